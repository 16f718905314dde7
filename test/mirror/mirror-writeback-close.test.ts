/**
 * Layer: behaviour. A local mirror's copy starts the secondary's writeback in steps on a descriptor
 * of its own (base/stepped-writeback.ts); when the copy run ends, that descriptor is closed, not
 * left to the garbage collector (which closes it at some later time, with a warning printed on the
 * user's stderr). Found by running the mirror bench: "Closing file descriptor N on garbage
 * collection" after each initial copy.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/volume/open-volume.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { MIRROR_WRITEBACK_BYTES } from '../../src/techniques/mirror/mirror-limits.js';
import { settledDescriptors } from '../harness/open-descriptors.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** Enough blocks that the copy writes several writeback steps. */
const BLOCKS = (3 * MIRROR_WRITEBACK_BYTES) / 512;

let dir: TempDir | undefined;
afterEach(() => {
  dir?.cleanup();
  dir = undefined;
});

describe('a local mirror copy run', () => {
  it('closes the descriptor of its writeback steps when the copy ends', async () => {
    dir = makeTempDir('snaptape-mirror-writeback-');
    const primary = createVolume(join(dir.path, 'prim.fba'), { type: 'fba', blocks: BLOCKS, volser: 'PRIM01' });
    const data = Buffer.alloc(1024 * 1024, 0x5a);
    for (let b = 2; b + 2048 <= BLOCKS; b += 2048) primary.writeBlocks(b, data);
    const secondaryPath = join(dir.path, 'sec.fba');
    createVolume(secondaryPath, { type: 'fba', blocks: BLOCKS, volser: 'SEC001' }).close();
    const mirror = MirrorSession.create(primary, [secondaryPath]);
    try {
      await mirror.whenInSync();
      // The mirror's own volume holds the secondary open (one descriptor); the copy's steps do not.
      expect(await settledDescriptors(secondaryPath)).toBe(1);
    } finally {
      await mirror.remove();
      primary.close();
    }
    expect(await settledDescriptors(secondaryPath)).toBe(0);
  });
});
