/**
 * Layer: CLI, hostile local user. `<image>.tracking` is opened for writing by every writable open
 * of a tracked image (and created by `track`): a symbolic link or a hard link put in its place, to
 * another file (of the map's size, so that nothing else gives it away), is refused with a typed
 * error naming the map, and the other file is neither emptied nor written. So is one in the place
 * of a backup's session bitmap (`<tape>.session.bitmap`), which a backup creates.
 */
import { linkSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { runSnaptapeOk, runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let image: string;
let victim: string;
const at = (name: string): string => join(dir.path, name);

beforeEach(() => {
  dir = makeTempDir('snaptape-tracking-symlink-');
  image = at('t.ckd');
  victim = at('victim.bin');
  runSnaptapeOk(['init', image, '--type', '3390', '--cyls', '2', '--volser', 'SYM001']);
});
afterEach(() => dir.cleanup());

/** The victim: bytes of its own, `size` of them. */
function plantVictim(size: number): Buffer {
  const bytes = Buffer.alloc(size, 0x5a);
  writeFileSync(victim, bytes);
  return bytes;
}

describe('the change-tracking map is opened only as a regular file, never through a symlink', () => {
  it('a tracked image opened for writing refuses a map that is a symlink', () => {
    runSnaptapeOk(['track', image]);
    const map = `${image}.tracking`;
    const bytes = plantVictim(statSync(map).size);
    unlinkSync(map);
    symlinkSync(victim, map);
    // A writable open (a data set allocated: its VTOC tracks are written, so marked in the map).
    expectCliFailure(runSnaptape(['alloc', image, 'NEW.DATA', '--tracks', '2']), 'IO', [map, 'symbolic link']);
    expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
    // A checkpoint (the map rewritten whole) is refused the same way.
    expectCliFailure(runSnaptape(['track', image, '--checkpoint', 'c1']), 'IO', [map, 'symbolic link']);
    expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
  });

  it('track on an untracked image refuses a map path that is already a symlink', () => {
    const map = `${image}.tracking`;
    const bytes = plantVictim(4096);
    symlinkSync(victim, map);
    expectCliFailure(runSnaptape(['track', image]), 'IO', [map, 'symbolic link']);
    expect(readFileSync(victim).equals(bytes), 'the victim is neither truncated nor written').toBe(true);
  });
});

describe('the change-tracking map and the session bitmap are never written through a hard link', () => {
  it('track on an untracked image refuses a map path that is a hard link, and does not empty it', () => {
    const map = `${image}.tracking`;
    const bytes = plantVictim(4096);
    linkSync(victim, map);
    expectCliFailure(runSnaptape(['track', image]), 'IO', [map, 'hard link']);
    expect(readFileSync(victim).equals(bytes), 'the victim is neither truncated nor written').toBe(true);
  });

  it('a tracked image opened for writing refuses a map that is a hard link', () => {
    runSnaptapeOk(['track', image]);
    const map = `${image}.tracking`;
    const bytes = plantVictim(statSync(map).size);
    unlinkSync(map);
    linkSync(victim, map);
    expectCliFailure(runSnaptape(['alloc', image, 'NEW.DATA', '--tracks', '2']), 'IO', [map, 'hard link']);
    expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
  });

  it('a backup refuses a session bitmap path that is a hard link, and does not empty it', () => {
    const tape = at('t.aws');
    const bitmap = `${tape}.session.bitmap`;
    const bytes = plantVictim(4096);
    linkSync(victim, bitmap);
    expectCliFailure(runSnaptape(['backup', image, '--to', tape]), 'IO', [bitmap, 'hard link']);
    expect(readFileSync(victim).equals(bytes), 'the victim is neither truncated nor written').toBe(true);
  });
});
