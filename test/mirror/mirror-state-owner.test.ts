/**
 * Layer: library API, a user's mistake and a hostile local user. `<primary>.mirror` names the
 * secondaries a resumed mirror writes (`serve` resumes every one it finds): a state file beside an
 * image that is not the primary it was written for must not send that image's writes to another
 * mirror's secondary. As a clone record is checked against the image it sits beside
 * (clone-resume.ts), the state file records whose it is, and a resume refuses one of another
 * primary, naming both, writing nothing.
 */
import { closeSync, copyFileSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { mirrorFilePath, mirrorPrimaryTag } from '../../src/techniques/mirror/mirror-state-file.js';
import { MIRROR_DESCRIPTOR_LAYOUT, MIRROR_HEADER_LAYOUT, descriptorOffset } from '../../src/techniques/mirror/mirror-state-layout.js';
import { field } from '../../src/base/field-table.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { CYLINDERS, makeBlankSecondary } from './mirror-fixtures.js';

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir('snaptape-mirror-owner-');
});
afterEach(() => dir.cleanup());

/** A mirror of a new filled primary `name` onto a blank `secondaryName`, in sync, then detached; the primary closed. */
async function detachedMirror(name: string, seed: number, secondaryName: string): Promise<{ primaryPath: string; secondaryPath: string }> {
  const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed, name });
  const secondaryPath = makeBlankSecondary(dir.path, secondaryName);
  const mirror = MirrorSession.create(primary, [secondaryPath]);
  await mirror.whenInSync();
  await mirror.detach();
  primary.close();
  return { primaryPath: primary.path, secondaryPath };
}

/** What someone who can write beside the primary does: names `target` as its M2 and clears CLEAN. */
function pointStateFileAt(primaryPath: string, target: string): void {
  const fd = openSync(mirrorFilePath(primaryPath), 'r+');
  const targetField = field(MIRROR_DESCRIPTOR_LAYOUT, 'target');
  const name = Buffer.alloc(targetField.length);
  name.write(target, 'latin1');
  writeSync(fd, name, 0, name.length, descriptorOffset(0) + targetField.offset);
  writeSync(fd, Buffer.from([0]), 0, 1, field(MIRROR_HEADER_LAYOUT, 'flags').offset);
  closeSync(fd);
}

describe("a mirror's state file beside another image", () => {
  it('a primary copied with its state file: the copy does not resume the mirror onto the original secondary', async () => {
    const { primaryPath, secondaryPath } = await detachedMirror('a.ckd', 11, 'm.ckd');
    // A spare of the primary, taken with its state file (to keep it, or to move it).
    const copyPath = join(dir.path, 'b.ckd');
    copyFileSync(primaryPath, copyPath);
    copyFileSync(mirrorFilePath(primaryPath), mirrorFilePath(copyPath));
    const secondaryBefore = readFileSync(secondaryPath);

    const copy = openVolume(copyPath);
    try {
      expect(() => MirrorSession.resume(copy)).toThrow(/b\.ckd\.mirror was written for another primary image.*m\.ckd/);
      // A host write of the copy goes nowhere else.
      copy.writeFlat(copy.ckd.heads * copy.backend.slotBytes + 100, Buffer.alloc(512, 0x5a));
      copy.sync();
    } finally {
      copy.close();
    }
    expect(readFileSync(secondaryPath).equals(secondaryBefore)).toBe(true);

    // The original still resumes its own mirror.
    const original = openVolume(primaryPath);
    try {
      const resumed = MirrorSession.resume(original);
      expect(resumed.status().mirrors[0]?.inSync).toBe(true);
      await resumed.remove();
    } finally {
      original.close();
    }
  });

  it('a state file written before the tag: taken up, and tagged with its primary from then on', async () => {
    const { primaryPath } = await detachedMirror('old.ckd', 12, 'old-m.ckd');
    const { offset, length } = field(MIRROR_HEADER_LAYOUT, 'primary');
    const at = mirrorFilePath(primaryPath);
    expect(
      readFileSync(at)
        .subarray(offset, offset + length)
        .equals(mirrorPrimaryTag(primaryPath)),
    ).toBe(true);
    const fd = openSync(at, 'r+');
    writeSync(fd, Buffer.alloc(length), 0, length, offset);
    closeSync(fd);

    const reopened = openVolume(primaryPath);
    try {
      const resumed = MirrorSession.resume(reopened);
      expect(resumed.status().mirrors[0]?.inSync).toBe(true);
      await resumed.detach();
    } finally {
      reopened.close();
    }
    expect(
      readFileSync(at)
        .subarray(offset, offset + length)
        .equals(mirrorPrimaryTag(primaryPath)),
    ).toBe(true);
  });

  it("a state file naming as its secondary an image that is nobody's secondary: refused, that image not written", async () => {
    const { primaryPath } = await detachedMirror('p.ckd', 13, 'p-m.ckd');
    // Someone who can write beside the primary names another image of the same shape as M2, and
    // clears CLEAN: a resume would resync every track onto it.
    const other = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed: 14, name: 'other.ckd' });
    other.close();
    const before = readFileSync(other.path);
    pointStateFileAt(primaryPath, other.path);

    const reopened = openVolume(primaryPath);
    try {
      expect(() => MirrorSession.resume(reopened)).toThrow(/other\.ckd\.secondary/);
    } finally {
      reopened.close();
    }
    expect(readFileSync(other.path).equals(before)).toBe(true);
  });

  it("a state file naming as its secondary another mirror's secondary: refused, that secondary not written", async () => {
    // Two mirrors of the user's: q.ckd onto q-m.ckd, r.ckd onto r-m.ckd.
    const q = await detachedMirror('q.ckd', 15, 'q-m.ckd');
    const { secondaryPath: rm } = await detachedMirror('r.ckd', 16, 'r-m.ckd');
    // Someone who can write beside q.ckd points its state file at r's secondary, CLEAN cleared.
    const before = readFileSync(rm);
    pointStateFileAt(q.primaryPath, rm);

    const reopened = openVolume(q.primaryPath);
    try {
      expect(() => MirrorSession.resume(reopened)).toThrow(/r-m\.ckd.*another primary/);
    } finally {
      reopened.close();
    }
    expect(readFileSync(rm).equals(before)).toBe(true);
  });
});
