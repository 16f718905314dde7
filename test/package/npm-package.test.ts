/**
 * snaptape as users get it (issue 19): `npm pack` (whose prepack builds dist/), then an install
 * of the tarball into an empty folder with no repository beside it, then the installed CLI through
 * `npx snaptape` (init, alloc, put, backup, verify, restore, get, compare), and a TypeScript file
 * that imports the library from 'snaptape' and its sub-paths, type-checked under --strict with
 * NodeNext resolution by the repository's own compiler.
 *
 * The pack runs in a staged copy of the package sources, so its build never rewrites the dist/
 * other tests run from. The install resolves from the npm cache, falling back to the registry
 * (--prefer-offline); nothing of the repository's node_modules is visible to it. npm variables
 * of an enclosing `npm test` are dropped from the environment so they cannot point npm back here.
 * This test takes minutes (a full tsc build and an install of ~170 packages), hence its timeout.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
/** What `npm pack` needs of the repository: the package, its sources and the build's config. */
const PACKAGE_SOURCES = ['package.json', 'package-lock.json', 'README.md', 'bin', 'src', 'tsconfig.json', 'tsconfig.build.json'];
const TEN_MINUTES_MS = 600_000;

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-pack-');
});
afterAll(() => dir.cleanup());

/** The environment without the npm_* variables an enclosing `npm run` sets (prefix, package paths). */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

function run(command: string, args: readonly string[], cwd: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...cleanEnv(), NO_COLOR: '1' },
    timeout: TEN_MINUTES_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function runOk(command: string, args: readonly string[], cwd: string): string {
  const result = run(command, args, cwd);
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stderr.slice(-3000)}\n${result.stdout.slice(-2000)}`);
  return result.stdout;
}

/**
 * `npx snaptape …` in the consumer folder: --no, so npx never fetches a snaptape from the registry;
 * `--`, so npx takes none of the arguments (`--version`) for itself.
 */
function npxSnaptape(args: readonly string[]): string[] {
  return ['--no', '--', 'snaptape', ...args];
}

function snaptape(consumer: string, args: readonly string[]): string {
  return runOk('npx', npxSnaptape(args), consumer);
}

const CONSUMER_TS = `
import { describeVolume, openVolume, type VolumeListing } from 'snaptape';
import { withVolume } from 'snaptape/volume';
import { runBackup, verifyBackupTape, type BackupRun } from 'snaptape/backup';
import { listTape, type TapeListing } from 'snaptape/tape';
import { isSnaptapeError, UsageError } from 'snaptape/errors';

const volume = openVolume('src.ckd', { readOnly: true });
const listing: VolumeListing = describeVolume(volume);
volume.close();
const dataSets: number = withVolume('src.ckd', { readOnly: true }, (v) => describeVolume(v).datasets.length);
const tape: TapeListing = listTape('full.aws');
const verified = verifyBackupTape('full.aws');
async function backup(): Promise<BackupRun> {
  const live = openVolume('src.ckd');
  try {
    return await runBackup(live, { tapePath: 'again.aws' });
  } finally {
    live.close();
  }
}
function explain(error: unknown): string {
  return isSnaptapeError(error) ? \`\${error.code}: \${error.message}\` : String(error);
}
export { backup, dataSets, explain, listing, tape, verified, UsageError };
`;

describe('the npm package', () => {
  it(
    'packs with dist/, installs on its own, runs init/backup/verify/restore, and type-checks an import',
    () => {
      // Pack, from a staged copy of the sources (prepack builds dist/ there).
      const stage = join(dir.path, 'stage');
      mkdirSync(stage);
      for (const entry of PACKAGE_SOURCES) cpSync(join(REPO, entry), join(stage, entry), { recursive: true });
      symlinkSync(join(REPO, 'node_modules'), join(stage, 'node_modules'));
      const packed = JSON.parse(runOk('npm', ['pack', '--json', '--pack-destination', dir.path], stage)) as { filename: string; files: { path: string }[] }[];
      const files = packed[0]!.files.map((file) => file.path);
      expect(files).toContain('dist/cli/main.js');
      expect(files).toContain('dist/api/index.d.ts');
      expect(files).toContain('dist/api/public/backup.d.ts');
      expect(files).toContain('bin/snaptape');
      expect(files.filter((path) => /^(src|test|bench|\.ci|native-layout)\//.test(path) || path.endsWith('.map'))).toEqual([]);
      const tarball = join(dir.path, packed[0]!.filename);

      // Install into an empty folder of its own: no repository above it, no node_modules to borrow.
      const consumer = join(dir.path, 'consumer');
      mkdirSync(consumer);
      writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      runOk('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], consumer);
      const installed = JSON.parse(readFileSync(join(consumer, 'node_modules', 'snaptape', 'package.json'), 'utf8')) as { version: string };

      // The CLI, as a user runs it.
      expect(snaptape(consumer, ['--version']).trim()).toBe(installed.version);
      const lines = Array.from({ length: 40 }, (_, i) => `PACKAGE TEST RECORD ${String(i).padStart(5, '0')}`);
      writeFileSync(join(consumer, 'records.txt'), `${lines.join('\n')}\n`);
      snaptape(consumer, ['init', 'src.ckd', '--type', '3390', '--cyls', '10', '--volser', 'PACK01']);
      snaptape(consumer, ['alloc', 'src.ckd', 'PACK.DATA', '--tracks', '2']);
      snaptape(consumer, ['put', 'src.ckd', 'PACK.DATA', 'records.txt', '--text']);
      type Elements = { elements: { name: string; sha256: string }[] };
      const backup = JSON.parse(snaptape(consumer, ['backup', 'src.ckd', '--to', 'full.aws', '--json'])) as {
        summary: Elements & { copiedInOrder: number; copiedOutOfOrder: number };
      };
      // 10 cylinders of 15 tracks, every one on the tape.
      expect(backup.summary.copiedInOrder + backup.summary.copiedOutOfOrder).toBe(150);
      const verify = JSON.parse(snaptape(consumer, ['verify', 'full.aws', '--json'])) as Elements & { ok: boolean };
      expect(verify.ok).toBe(true);
      expect(verify.elements.map((e) => e.sha256)).toEqual(backup.summary.elements.map((e) => e.sha256));
      snaptape(consumer, ['restore', 'full.aws', '--to', 'copy.ckd', '--new-volume', '--json']);
      expect(snaptape(consumer, ['get', 'copy.ckd', 'PACK.DATA', '-', '--text'])).toBe(`${lines.join('\n')}\n`);
      expect(run('npx', npxSnaptape(['compare', 'src.ckd', 'copy.ckd']), consumer).status).toBe(0);

      // The library, as a TypeScript user imports it.
      writeFileSync(join(consumer, 'consumer.ts'), CONSUMER_TS);
      const check = run(process.execPath, [TSC, '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--noEmit', 'consumer.ts'], consumer);
      expect(check.stdout + check.stderr).toBe('');
      expect(check.status).toBe(0);
      // The types are real, not any: a wrong use of the API is refused.
      writeFileSync(join(consumer, 'wrong.ts'), "import { openVolume } from 'snaptape/volume';\nexport const n: number = openVolume('src.ckd');\n");
      const wrong = run(process.execPath, [TSC, '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--noEmit', 'wrong.ts'], consumer);
      expect(wrong.stdout).toMatch(/wrong\.ts\(2,\d+\): error TS2322/);
    },
    2 * TEN_MINUTES_MS,
  );
});
