/**
 * Layers: scenario (the real CLI). What `backup VOL --to FILE --force` may replace: a tape (done or
 * interrupted) or any other regular file the user names. Never a volume image (the source through a
 * hard link, another volume, a volume reached through a symlink), never a file whose lock a live
 * process holds (reached through a symlink, whose own name has no lock), never a folder, a FIFO or a
 * device. Each refusal is one typed error naming the file, and leaves the file and the source as
 * they were; a FIFO is refused at once, not waited on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../harness/dasd.js';
import { SNAPTAPE_BIN, runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { expectCliFailure, tapeArtifacts } from './backup-test-helpers.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
const ok = runSnaptapeOk;
let source: string;
let sourceSha: string;

beforeAll(() => {
  dir = makeTempDir();
  source = at('source.ckd');
  ok(['init', source, '--type', '3390', '--cyls', '5', '--volser', 'FRC001']);
  ok(['fill', source, '--percent', '50']);
  sourceSha = sha256File(source);
});
afterAll(() => dir.cleanup());

/** A copy of the source of its own for one case, so that a case that breaks it breaks no other. */
function sourceCopy(name: string): string {
  const path = at(name);
  copyFileSync(source, path);
  return path;
}

function expectSourceUnchanged(what: string, path = source): void {
  expect(sha256File(path), `${what} left the source's bytes alone`).toBe(sourceSha);
  expect(existsSync(`${path}.lock`), `${what} left no lock on the source`).toBe(false);
}

describe('--force replaces', () => {
  it('a finished tape, an interrupted one (no labels yet) and an ordinary file', () => {
    const tape = at('again.aws');
    ok(['backup', source, '--to', tape]);
    ok(['backup', source, '--to', tape, '--force']);
    expect(ok(['verify', tape])).toMatch(/: OK\n/);
    const zeros = at('zeros.aws');
    writeFileSync(zeros, Buffer.alloc(4096));
    ok(['backup', source, '--to', zeros, '--force']);
    const notes = at('notes.txt');
    writeFileSync(notes, 'old notes\n');
    ok(['backup', source, '--to', notes, '--force']);
    expect(ok(['verify', notes])).toMatch(/: OK\n/);
    expectSourceUnchanged('forced backups');
  });
});

describe('--force refuses, leaving the file as it was', () => {
  it('the source through a hard link', () => {
    const own = sourceCopy('hard-source.ckd');
    const hard = at('hard-link.aws');
    linkSync(own, hard);
    const r = runSnaptape(['backup', own, '--to', hard, '--force']);
    expectCliFailure(r, 'USAGE', [hard, /source volume/]);
    expectSourceUnchanged('a backup onto a hard link of its source', own);
  });

  it('another volume image, CKD or FBA, named or reached through a symlink', () => {
    const other = at('other.ckd');
    ok(['init', other, '--type', '3390', '--cyls', '5', '--volser', 'OTH001']);
    const fba = at('other.fba');
    ok(['init', fba, '--type', 'fba', '--blocks', '4096', '--volser', 'FBA001']);
    const link = at('other-link.aws');
    symlinkSync(other, link);
    const shas = [sha256File(other), sha256File(fba)];
    for (const [target, named] of [
      [other, other],
      [link, link],
      [fba, fba],
    ] as const) {
      const r = runSnaptape(['backup', source, '--to', target, '--force']);
      expectCliFailure(r, 'USAGE', [named, /volume image/]);
      expect(existsSync(`${target}.session.json`), `no session record beside ${target}`).toBe(false);
    }
    expect([sha256File(other), sha256File(fba)]).toEqual(shas);
    expectSourceUnchanged('backups onto volume images');
  });

  it('a folder, a FIFO (at once, not waited on) and a device', () => {
    const folder = at('folder.aws');
    mkdirSync(folder);
    expectCliFailure(runSnaptape(['backup', source, '--to', folder, '--force']), 'USAGE', [folder, /not a regular file/]);
    const fifo = at('fifo.aws');
    expect(spawnSync('mkfifo', [fifo]).status, 'mkfifo').toBe(0);
    const r = runSnaptape(['backup', source, '--to', fifo, '--force'], { timeoutMs: 20_000, killSignal: 'SIGKILL' });
    expectCliFailure(r, 'USAGE', [fifo, /not a regular file/]);
    expect(readdirSync(dir.path).filter((n) => n.startsWith('fifo.aws.'))).toEqual([]);
    expectCliFailure(runSnaptape(['backup', source, '--to', '/dev/null', '--force']), 'USAGE', ['/dev/null', /not a regular file/]);
    expectSourceUnchanged('backups onto a folder, a FIFO and a device');
  });
});

describe('a tape another process is writing, reached through a symlink', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('is refused with LOCKED naming the holder, and its bytes are left alone', async () => {
    const tape = at('held.aws');
    ok(['backup', source, '--to', tape]);
    const link = at('held-link.aws');
    symlinkSync(tape, link);
    const before = sha256File(tape);
    const lockApi = fileURLToPath(new URL('../../dist/image/image-lock.js', import.meta.url));
    const holder = `
      const { lockImage } = await import(${JSON.stringify(lockApi)});
      const lock = lockImage(process.argv[1]);
      process.stdout.write('locked\\n');
      process.stdin.on('data', () => { lock.release(); process.exit(0); });`;
    child = spawn(process.execPath, ['--input-type=module', '-e', holder, tape], { stdio: ['pipe', 'pipe', 'pipe'] });
    const held = child;
    await new Promise<void>((resolve, reject) => {
      held.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('locked')) resolve();
      });
      held.on('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
    });
    const r = runSnaptape(['backup', source, '--to', link, '--force']);
    expectCliFailure(r, 'LOCKED', [link, String(held.pid)]);
    expect(sha256File(tape), 'the held tape is unchanged').toBe(before);
    expect(tapeArtifacts(link)).toEqual([link]);
    const exited = new Promise((resolve) => held.on('exit', resolve));
    held.stdin?.write('release\n');
    await exited;
    expectSourceUnchanged('a backup onto a held tape');
  });
});

describe('a tape a running backup is writing, reached through a hard link', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('is refused with LOCKED by backup --force, tape init --force and verify, and the running backup finishes a whole tape', async () => {
    const tape = at('running.aws');
    const link = at('running-hard.aws');
    // Throttled: the backup writes its tape for seconds, long enough for the two refusals below.
    child = spawn(process.execPath, [SNAPTAPE_BIN, 'backup', source, '--to', tape, '--workers', '1', '--throttle-mbps', '0.25'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const running = child;
    let stderr = '';
    running.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => running.on('exit', resolve));
    // The tape is being written once the file exists with its lock held.
    const deadline = Date.now() + 30_000;
    while (!(existsSync(tape) && existsSync(`${tape}.lock`))) {
      expect(running.exitCode, `the backup is still running (stderr: ${stderr})`).toBeNull();
      expect(Date.now() < deadline, 'the backup started writing its tape').toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    linkSync(tape, link);
    const other = sourceCopy('hard-running-source.ckd');
    // Each refusal names the file and the backup's process (the kernel's lock table says which).
    const holder = `process ${running.pid}`;
    expectCliFailure(runSnaptape(['backup', other, '--to', link, '--force']), 'LOCKED', [link, holder, /hard link/]);
    expectCliFailure(runSnaptape(['tape', 'init', link, '--volser', 'HRD001', '--force']), 'LOCKED', [link, holder]);
    // A reader through the link is told the tape is being written, as through its own name.
    expectCliFailure(runSnaptape(['verify', link]), 'LOCKED', [link, holder, /being written/]);
    expect(running.exitCode, 'the refusals came while the backup was still writing').toBeNull();
    expect(await exited, `the running backup succeeded (stderr: ${stderr})`).toBe(0);
    expect(ok(['verify', tape]), 'the running backup wrote a whole tape').toMatch(/: OK\n/);
    expect(existsSync(`${link}.lock`), 'the refused writers left no lock').toBe(false);
    expectSourceUnchanged('a running backup and refused writers');
  });
});

describe('a tape a running backup is writing, renamed', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('is refused with LOCKED by a reader and by a writer under its new name', () => {
    const tape = at('renamed-running.aws');
    const renamed = at('renamed-new.aws');
    // A source of its own: the backup is killed at the end, and leaves its lock behind.
    child = spawn(
      process.execPath,
      [SNAPTAPE_BIN, 'backup', sourceCopy('renamed-running-source.ckd'), '--to', tape, '--workers', '1', '--throttle-mbps', '0.25'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    const running = child;
    return (async () => {
      let stderr = '';
      running.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const deadline = Date.now() + 30_000;
      // Renamed once its blocks are being copied in (the copy opened the tape by its name already).
      while (!(existsSync(tape) && existsSync(`${tape}.lock`) && readFileSync(tape).some((b) => b !== 0))) {
        expect(running.exitCode, `the backup is still running (stderr: ${stderr})`).toBeNull();
        expect(Date.now() < deadline, 'the backup started writing its tape').toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // One name, no lock file beside it: only the kernel's lock on the file says it is being written.
      renameSync(tape, renamed);
      const holder = `process ${running.pid}`;
      expectCliFailure(runSnaptape(['verify', renamed]), 'LOCKED', [renamed, holder, /being written/]);
      expectCliFailure(runSnaptape(['backup', sourceCopy('renamed-source.ckd'), '--to', renamed, '--force']), 'LOCKED', [renamed, holder]);
      expect(running.exitCode, 'the refusals came while the backup was still writing').toBeNull();
      const exited = new Promise((resolve) => running.on('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    })();
  });
});

describe('a tape another program holds a shared flock(2) on, by its own name', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('is refused with LOCKED naming the holder and its shared lock, not a hard link', async () => {
    const tape = at('shared-held.aws');
    ok(['backup', source, '--to', tape]);
    const before = sha256File(tape);
    // flock(1) takes the shared lock and then runs `sleep`: it prints nothing, so wait for the lock table.
    child = spawn('flock', ['--shared', tape, 'sleep', '60'], { stdio: 'ignore' });
    const held = child;
    const deadline = Date.now() + 10_000;
    const ino = statSync(tape).ino;
    while (!new RegExp(`FLOCK +ADVISORY +READ +${held.pid} +[0-9a-f]+:[0-9a-f]+:${ino} `).test(readFileSync('/proc/locks', 'utf8'))) {
      expect(Date.now() < deadline, 'flock(1) took its lock').toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const r = runSnaptape(['backup', source, '--to', tape, '--force']);
    expectCliFailure(r, 'LOCKED', [tape, /shared lock/]);
    expect(r.stderr, 'the tape has one name: no hard link is claimed').not.toMatch(/hard link\)/);
    expect(sha256File(tape), 'the held tape is unchanged').toBe(before);
    held.kill('SIGKILL');
    expectSourceUnchanged('a backup onto a tape under a shared flock');
  });
});

describe('a tape another process holds locked but has not created yet, reached through a symlink', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('is refused with LOCKED naming the holder, and nothing is created in its place', async () => {
    const tape = at('unmade.aws');
    const link = at('unmade-link.aws');
    // A dangling link: the file it names is still to be made by the lock's holder.
    symlinkSync(tape, link);
    const lockApi = fileURLToPath(new URL('../../dist/image/image-lock.js', import.meta.url));
    const holder = `
      const { lockImage } = await import(${JSON.stringify(lockApi)});
      const lock = lockImage(process.argv[1]);
      process.stdout.write('locked\\n');
      process.stdin.on('data', () => { lock.release(); process.exit(0); });`;
    child = spawn(process.execPath, ['--input-type=module', '-e', holder, tape], { stdio: ['pipe', 'pipe', 'pipe'] });
    const held = child;
    await new Promise<void>((resolve, reject) => {
      held.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('locked')) resolve();
      });
      held.on('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
    });
    const r = runSnaptape(['backup', sourceCopy('unmade-source.ckd'), '--to', link, '--force']);
    expectCliFailure(r, 'LOCKED', [link, String(held.pid)]);
    expect(existsSync(tape), 'nothing was made where the holder will make its tape').toBe(false);
    const exited = new Promise((resolve) => held.on('exit', resolve));
    held.stdin?.write('release\n');
    await exited;
  });
});

// Needs root, to run flock(1) as another user.
describe.runIf(process.getuid?.() === 0)("a tape another user's program holds an exclusive flock(2) on", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('is read and written as any tape: a lock of a user who is neither its owner nor the reader is no writer of it', async () => {
    const tape = at('foreign-held.aws');
    ok(['backup', source, '--to', tape]);
    // The other user reaches the tape (mode 0644) through its folder.
    chmodSync(dir.path, 0o755);
    child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'flock', '--exclusive', tape, 'sleep', '60'], { stdio: 'ignore' });
    const held = child;
    const ino = statSync(tape).ino;
    const deadline = Date.now() + 10_000;
    while (!new RegExp(`FLOCK +ADVISORY +WRITE +${held.pid} +[0-9a-f]+:[0-9a-f]+:${ino} `).test(readFileSync('/proc/locks', 'utf8'))) {
      expect(held.exitCode, 'flock(1) runs as the other user').toBeNull();
      expect(Date.now() < deadline, 'flock(1) took its lock').toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(ok(['verify', tape]), 'the tape verifies').toMatch(/: OK\n/);
    // Nor does it keep the tape's owner from writing it again.
    ok(['backup', source, '--to', tape, '--force']);
    expect(ok(['verify', tape]), 'the tape written again verifies').toMatch(/: OK\n/);
    const exited = new Promise((resolve) => held.on('exit', resolve));
    held.kill('SIGKILL');
    await exited;
  });
});
