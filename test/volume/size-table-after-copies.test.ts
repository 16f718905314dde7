/**
 * Layer: scenario. The size table V of a volume that a technique wrote (a mirror secondary after
 * its initial copy and after a resync, a clone destination after TERMINATE, a whole-volume restore)
 * counts only the bytes its tracks use:
 * - the table stored beside the target equals a fresh scan of the target's image, so V is true,
 *   not just smaller than a slot;
 * A remote secondary is a `snaptape serve` child on loopback, written over NBD.
 * - a backup of the target is no larger than a backup of its source (labels aside), because a
 *   backup copies the used bytes V names.
 * A V of whole slots made the split secondary's backup four times its source's.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { createVolume, openVolume } from '../../src/api/volume-api.js';
import { runBackup } from '../../src/api/backup-api.js';
import { runClone } from '../../src/api/clone-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { TrackSizeTable } from '../../src/volume/track-size-table.js';
import { readTrackSizes, sizeStorePath } from '../../src/volume/track-size-store.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, nbdPort, startServe } from '../server/helpers/serve-process.js';

const CYLINDERS = 20;
/** Room for a tape's labels, which name their volume and so may differ in length. */
const LABEL_SLACK_BYTES = 4096;

let pool: CopyPool;
beforeAll(() => {
  pool = new CopyPool(2);
});
afterAll(async () => {
  await pool.close();
});

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir('snaptape-sizes-');
});
afterEach(() => {
  killAllServers();
  dir.cleanup();
});

/** A closed 3390 whose data sets fill 30% of its free tracks. */
function makeSource(name = 'source.ckd'): string {
  const path = join(dir.path, name);
  const volume = createVolume(path, { type: '3390', cylinders: CYLINDERS, volser: 'SRC001' });
  fillVolume(volume, { seed: 7, percent: 30 });
  volume.close();
  return path;
}

/** A closed, empty 3390 of the source's size. */
function makeBlank(name: string): string {
  const path = join(dir.path, name);
  createVolume(path, { type: '3390', cylinders: CYLINDERS, volser: 'DST001' }).close();
  return path;
}

/** Bytes of a backup of the closed image at `path` (the tape file's size). */
async function backupBytes(path: string): Promise<number> {
  const tape = join(dir.path, `${path.split('/').pop() ?? 'image'}.${Date.now()}.aws`);
  const volume = openVolume(path);
  try {
    await runBackup(volume, { tapePath: tape, pool });
  } finally {
    volume.close();
  }
  const bytes = statSync(tape).size;
  rmSync(tape);
  return bytes;
}

/** The stored table must be trusted on open and equal a scan of the image with no table beside it. */
function expectStoredTableTrue(path: string): void {
  const probe = openVolume(path, { readOnly: true });
  const tracks = probe.ckd.trackCount;
  const slotBytes = probe.backend.slotBytes;
  probe.close();
  const stored = readTrackSizes(path, tracks, slotBytes);
  expect('table' in stored ? 'stored' : stored.reason).toBe('stored');
  rmSync(sizeStorePath(path));
  const fresh = openVolume(path, { readOnly: true });
  try {
    const scanned = TrackSizeTable.scan(fresh.backend, fresh.ckd).raw;
    const table = 'table' in stored ? stored.table : new Uint32Array(0);
    const differing = [...table.keys()].filter((t) => table[t] !== scanned[t]);
    expect(differing.slice(0, 5).map((t) => `track ${t}: stored ${table[t]}, scanned ${scanned[t]}`)).toEqual([]);
  } finally {
    fresh.close();
  }
}

async function expectBackupNoLarger(target: string, source: string): Promise<void> {
  const targetBytes = await backupBytes(target);
  const sourceBytes = await backupBytes(source);
  expect(targetBytes).toBeLessThanOrEqual(sourceBytes + LABEL_SLACK_BYTES);
}

describe('size tables of the volumes a technique wrote', () => {
  it('a local mirror secondary after its initial copy', async () => {
    const source = makeSource();
    const secondary = makeBlank('secondary.ckd');
    const primary = openVolume(source);
    const mirror = MirrorSession.create(primary, [secondary]);
    await mirror.whenInSync();
    await mirror.remove();
    primary.close();
    await expectBackupNoLarger(secondary, source);
    expectStoredTableTrue(secondary);
  });

  it('a local mirror secondary after a split, host writes and a resync', async () => {
    const source = makeSource();
    const secondary = makeBlank('secondary.ckd');
    const primary = openVolume(source);
    const mirror = MirrorSession.create(primary, [secondary]);
    await mirror.whenInSync();
    mirror.split('M2');
    const prng = new Prng(11);
    for (let i = 0; i < 40; i++) randomHostWrite(primary, primary.ckd.heads + prng.below(primary.ckd.trackCount - primary.ckd.heads), prng);
    mirror.rejoin('M2');
    await mirror.whenInSync();
    expect(mirror.status().mirrors[0]?.resync?.copied).toBeGreaterThan(0);
    await mirror.remove();
    primary.close();
    await expectBackupNoLarger(secondary, source);
    expectStoredTableTrue(secondary);
  });

  it('a remote mirror secondary (served over NBD) after its initial copy', async () => {
    const source = makeSource();
    const secondary = makeBlank('secondary.ckd');
    const server = await startServe([secondary, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir.path, 'sec.sock')]);
    const primary = openVolume(source);
    const mirror = MirrorSession.create(primary, [`127.0.0.1:${nbdPort(server.info)}/secondary`]);
    await mirror.whenInSync();
    await mirror.remove();
    primary.close();
    expect((await server.stop()).code).toBe(0);
    await expectBackupNoLarger(secondary, source);
    expectStoredTableTrue(secondary);
  });

  it('a clone destination after TERMINATE', async () => {
    const source = makeSource();
    const target = makeBlank('clone.ckd');
    await runClone(source, target, { workers: 1 });
    await expectBackupNoLarger(target, source);
    expectStoredTableTrue(target);
  });

  it('a whole-volume restore, onto a new volume and onto an existing one', async () => {
    const source = makeSource();
    const tape = join(dir.path, 'full.aws');
    const volume = openVolume(source);
    try {
      await runBackup(volume, { tapePath: tape, pool });
    } finally {
      volume.close();
    }
    const fresh = join(dir.path, 'restored-new.ckd');
    restoreTape(tape, { to: fresh, newVolume: true });
    const existing = makeBlank('restored-existing.ckd');
    restoreTape(tape, { to: existing });
    for (const target of [fresh, existing]) {
      await expectBackupNoLarger(target, source);
      expectStoredTableTrue(target);
    }
  });
});
