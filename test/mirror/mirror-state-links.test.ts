/**
 * Layer: unit, hostile local user. `<primary>.mirror` (the mirror's state file) is reopened by
 * `serve` and every mirror command after a restart, and then written in place (bits cleared before
 * a host write is acknowledged, the header at each state change): a symbolic link or a hard link
 * put at its name, to another file (holding a state file's own bytes, so that nothing else gives it
 * away), is refused with a typed error naming it, and the other file is not written. Its creation
 * (O_EXCL) never followed a link: a link at the name is refused too, and the other file left alone.
 */
import { existsSync, linkSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IoError, SnaptapeError } from '../../src/errors/snaptape-error.js';
import { MirrorStateFile, mirrorFilePath } from '../../src/techniques/mirror/mirror-state-file.js';
import { TrackStatusTable } from '../../src/techniques/mirror/track-status-table.js';
import { makeTempDir } from '../harness/temp-dir.js';

const dir = makeTempDir('snaptape-mirror-links-');
afterAll(() => dir.cleanup());

const links = [
  ['a symbolic link', symlinkSync, 'symbolic link'],
  ['a hard link', linkSync, 'hard link'],
] as const;
const mirrors = [{ kind: 'local' as const, target: '/data/m2.ckd', linkState: 'ONGOING' as const, splitCount: 0 }];

function newState(path: string): void {
  MirrorStateFile.create(path, { slotBytes: 56_832, mirrors, table: TrackStatusTable.primaryOnly(40) }).close();
}

/** Reopens the state file as a restart does and writes it as the mirror does (a clean header). */
function reopenAndWrite(path: string): void {
  const { file, state } = MirrorStateFile.open(path);
  try {
    file.writeAll({ ...state, clean: true });
  } finally {
    file.close();
  }
}

async function thrown(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('the mirror state file is never written through a link', () => {
  let n = 0;
  for (const [kind, link, words] of links) {
    it(`reopening refuses ${kind} at the state file, and leaves the other file alone`, async () => {
      const path = mirrorFilePath(join(dir.path, `p${n++}.ckd`));
      newState(path);
      const victim = `${path}.victim`;
      const bytes = readFileSync(path);
      writeFileSync(victim, bytes);
      unlinkSync(path);
      link(victim, path);
      const error = await thrown(() => reopenAndWrite(path));
      expect(error).toBeInstanceOf(IoError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toContain(words);
      expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
    });

    it(`creating refuses ${kind} at the state file, and leaves the other file alone`, async () => {
      const path = mirrorFilePath(join(dir.path, `p${n++}.ckd`));
      const victim = `${path}.victim`;
      const bytes = Buffer.alloc(4096, 0x5a);
      writeFileSync(victim, bytes);
      link(victim, path);
      const error = await thrown(() => newState(path));
      expect(error).toBeInstanceOf(SnaptapeError);
      expect((error as Error).message).toContain(path);
      expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
    });
  }

  it('creating refuses a dangling symbolic link at the state file, and makes no file where it points', async () => {
    const path = mirrorFilePath(join(dir.path, 'dangling.ckd'));
    const victim = `${path}.victim`;
    symlinkSync(victim, path);
    const error = await thrown(() => newState(path));
    expect(error).toBeInstanceOf(SnaptapeError);
    expect((error as Error).message).toContain(path);
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });

  it('a state file of its own is reopened and written as before', () => {
    const path = mirrorFilePath(join(dir.path, 'own.ckd'));
    newState(path);
    reopenAndWrite(path);
    const { file, state } = MirrorStateFile.open(path);
    file.close();
    expect(state.clean).toBe(true);
    expect(state.mirrors).toEqual(mirrors);
  });
});
