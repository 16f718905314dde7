/**
 * Layer: behaviour. A local secondary gets the bytes that can differ from the primary, not whole
 * track slots: the primary's used bytes of each track (its size table V) and zeros over what the
 * secondary's own track may still hold (the secondary's V). So a sparse primary gives a sparse
 * secondary (as `cp` keeps a sparse image sparse), a secondary that held other data still ends
 * byte-identical to the primary, and a primary of full tracks is still written a cylinder at a time.
 * The room on disk is read from the files' allocated blocks (stat), never timed.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/volume/open-volume.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import type { Volume } from '../../src/volume/volume.js';
import type { WriteInterceptor } from '../../src/volume/write-interceptor.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { allocatedBytes, filesIdentical, writeFull, writeSparse } from './mirror-fixtures.js';

const CYLINDERS = 30;
const HEADS = 15;

let dir: TempDir | undefined;
afterEach(() => {
  dir?.cleanup();
  dir = undefined;
});

/** Counts the writes that reach a local secondary's write chain. */
function countWrites(mirror: MirrorSession): { writes: number } {
  const count = { writes: 0 };
  const secondary = (mirror as unknown as { secondaries: { local?: Volume }[] }).secondaries[0]?.local;
  expect(secondary).toBeDefined();
  const counter: WriteInterceptor = {
    name: 'count',
    stage: 'observer',
    beforeWrite: () => {
      count.writes++;
    },
  };
  secondary?.addInterceptor(counter);
  return count;
}

describe('a local mirror secondary', () => {
  it('stays sparse when the primary is sparse, through the initial copy and a resync', async () => {
    dir = makeTempDir('snaptape-mirror-sparse-');
    const primaryPath = join(dir.path, 'prim.ckd');
    const secondaryPath = join(dir.path, 'sec.ckd');
    const primary = createVolume(primaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'PRIM01' });
    writeSparse(primary, 5, 0x41);
    primary.sync();
    createVolume(secondaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' }).close();
    const mirror = MirrorSession.create(primary, [secondaryPath], { force: true });
    try {
      await mirror.whenInSync({ timeoutMs: 30_000 });
      mirror.split();
      writeSparse(primary, 3, 0x61);
      mirror.rejoin();
      await mirror.whenInSync({ timeoutMs: 30_000 });
    } finally {
      await mirror.remove();
      primary.sync();
      primary.close();
    }
    const slots = CYLINDERS * HEADS * 56832;
    process.stdout.write(`allocated: primary ${allocatedBytes(primaryPath)}, secondary ${allocatedBytes(secondaryPath)} bytes, of ${slots} in slots\n`);
    expect(filesIdentical(secondaryPath, primaryPath)).toBe(true);
    // The same tracks hold data on both: the secondary takes about the primary's room, not every slot's.
    expect(allocatedBytes(secondaryPath)).toBeLessThanOrEqual(allocatedBytes(primaryPath) + 256 * 1024);
  });

  it('ends byte-identical to a sparse primary when its own tracks held more', async () => {
    dir = makeTempDir('snaptape-mirror-sparse-');
    const primaryPath = join(dir.path, 'prim.ckd');
    const secondaryPath = join(dir.path, 'sec.ckd');
    const primary = createVolume(primaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'PRIM01' });
    writeSparse(primary, 4, 0x41);
    primary.sync();
    const old = createVolume(secondaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' });
    writeFull(old, 7);
    old.close();
    const mirror = MirrorSession.create(primary, [secondaryPath], { force: true });
    try {
      await mirror.whenInSync({ timeoutMs: 30_000 });
    } finally {
      await mirror.remove();
      primary.sync();
      primary.close();
    }
    expect(filesIdentical(secondaryPath, primaryPath)).toBe(true);
  });

  it('is written a cylinder at a time when the primary is full', async () => {
    dir = makeTempDir('snaptape-mirror-sparse-');
    const primaryPath = join(dir.path, 'prim.ckd');
    const secondaryPath = join(dir.path, 'sec.ckd');
    const primary = createVolume(primaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'PRIM01' });
    writeFull(primary, 3);
    primary.sync();
    createVolume(secondaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' }).close();
    const mirror = MirrorSession.create(primary, [secondaryPath], { force: true });
    let writes = 0;
    try {
      const count = countWrites(mirror);
      await mirror.whenInSync({ timeoutMs: 30_000 });
      writes = count.writes;
    } finally {
      await mirror.remove();
      primary.sync();
      primary.close();
    }
    process.stdout.write(`full primary: ${CYLINDERS} cylinders, ${writes} writes\n`);
    expect(writes).toBeGreaterThan(0);
    // A write per full cylinder; cylinder 0 (the label, the VTOC, empty tracks) may take one per track.
    expect(writes).toBeLessThanOrEqual(CYLINDERS - 1 + HEADS);
    expect(filesIdentical(secondaryPath, primaryPath)).toBe(true);
  });
});
