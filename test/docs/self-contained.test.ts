/**
 * The repository explains itself alone (issue 17): no source comment, doc, test or script may point
 * at a file outside it (the reference notes the project was first written from are not shipped), and
 * every page a file points at inside the repository exists. The forbidden names are spelled in
 * pieces below so that this file does not name them itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Names of files that live outside the repository. */
const OUTSIDE = ['FORMATS' + '.md', 'PERF' + '-NOTES', 'STYLE' + '.md', 'STYLE' + ' rule', '..' + '/shared'];

/** Tracked and new (not ignored) files: what a clone of the commit would hold. */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' });
  return out.split('\0').filter((path) => path !== '' && existsSync(join(REPO, path)) && lstatSync(join(REPO, path)).isFile());
}

/** Text files only: a NUL byte in the first 8 KiB marks a binary (images, gzip'd vectors). */
function readText(path: string): string | undefined {
  const bytes = readFileSync(join(REPO, path));
  if (bytes.subarray(0, 8192).includes(0)) return undefined;
  return bytes.toString('utf8');
}

describe('a self-contained repository', () => {
  const files = repositoryFiles();

  it('lists the repository (the check below is not vacuous)', () => {
    expect(files).toContain('src/volume/volume.ts');
    expect(files.length).toBeGreaterThan(300);
  });

  it('no file names a file outside the repository', () => {
    const hits: string[] = [];
    for (const path of files) {
      const text = readText(path);
      if (text === undefined) continue;
      text.split('\n').forEach((line, i) => {
        for (const name of OUTSIDE) if (line.includes(name)) hits.push(`${path}:${i + 1}: ${name}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it('every native-layout page and ARCHITECTURE.md that a file points at exists', () => {
    const missing = new Set<string>();
    for (const path of files) {
      const text = readText(path);
      if (text === undefined) continue;
      for (const match of text.matchAll(/native-layout\/([a-z0-9-]+\.(?:md|json))/g)) {
        if (!existsSync(join(REPO, 'native-layout', match[1] as string))) missing.add(`${path}: native-layout/${match[1]}`);
      }
      if (text.includes('ARCHITECTURE.md') && !existsSync(join(REPO, 'ARCHITECTURE.md'))) missing.add(`${path}: ARCHITECTURE.md`);
    }
    expect([...missing]).toEqual([]);
  });
});
