/**
 * Every background unit copy goes through the engine's unit copy (issue 17), shown with a counting
 * backend: the engine's census (engine/copy-census.ts) counts each unit it copies and the path it
 * took (a worker, the owning thread, or host-driven); the counting backend counts every unit the
 * source gives out while the copy runs. On the owning-thread path each unit read is one the engine
 * copied; on the worker path the source backend gives out none (workers read by offset), and the
 * census holds every unit. A copy made around the engine would read units the census lacks, or leave
 * the census short of what the technique says it copied.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { copyCensus, type CensusPath } from '../../src/engine/copy-census.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { openImage } from '../../src/image/open-image.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { Volume } from '../../src/volume/volume.js';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import type { MappedVolumeBackend } from '../../src/subsystem/mapped-volume-backend.js';
import { UNALLOCATED_SLOT } from '../../src/subsystem/subsystem-layouts.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { runPhysicalCopy } from '../../src/techniques/snapshot/physical-copy.js';
import { defineSnapshot, executeSnapshot } from '../../src/techniques/snapshot/snapshot-protocol.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { ReadCountingBackend } from '../harness/read-counting-backend.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { filesIdentical, makeBlankSecondary } from '../mirror/mirror-fixtures.js';
import { makeSubsystem } from '../snapshot/helpers/subsystem-fixtures.js';
import { addVolumes, makePool, makeSource, makeTarget as makeVersionTarget, openTestCatalog } from '../versions/version-fixtures.js';

const CYLINDERS = 20;

let dir: TempDir;
let pool: CopyPool;
let n = 0;

beforeAll(() => {
  dir = makeTempDir('snaptape-census-');
  pool = new CopyPool(2);
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

function countingSource(path: CensusPath): { volume: Volume; backend: ReadCountingBackend } {
  const filled = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed: 5 + n, name: `source-${n++}.ckd` });
  const imagePath = filled.path;
  filled.close();
  const backend = new ReadCountingBackend(openImage(imagePath), { hideLocation: path === 'owning-thread' });
  return { volume: new Volume(backend), backend };
}

function delta(before: ReturnType<typeof copyCensus>): Record<CensusPath, number> {
  const after = copyCensus();
  return {
    worker: after.worker.units - before.worker.units,
    'owning-thread': after['owning-thread'].units - before['owning-thread'].units,
    'host-driven': after['host-driven'].units - before['host-driven'].units,
  };
}

/** Host writes to tracks the copy has likely not reached yet: each needs a copy before it lands. */
function writeAhead(volume: Volume, count: number): void {
  const prng = new Prng(99);
  for (let i = 0; i < count; i++) randomHostWrite(volume, volume.unitCount - 1 - i * 7, prng);
}

describe.each(['worker', 'owning-thread'] as const)('the %s path', (path) => {
  it('a tape backup copies every slot through the engine', async () => {
    const { volume, backend } = countingSource(path);
    try {
      const before = copyCensus();
      const session = TapeBackupSession.start(volume, { tapePath: join(dir.path, `census-${n}.aws`), pool, pauseAfter: 15, pauseMs: 20 });
      backend.unitsRead = 0;
      writeAhead(volume, 5);
      const readsForHostWrites = backend.unitsRead;
      const summary = await session.done;
      expect(session.copyPath).toBe(path);
      const counted = delta(before);
      expect(counted[path] + counted['host-driven']).toBe(session.states.unitCount);
      expect(counted[path]).toBe(summary.copiedInOrder);
      expect(counted['host-driven']).toBe(summary.copiedOutOfOrder);
      expect(summary.copiedOutOfOrder).toBeGreaterThan(0);
      // Reads of the source after the host writes (and their copies before write): exactly the units
      // the engine's background copy took on this thread.
      const copyReads = backend.unitsRead - readsForHostWrites;
      expect(copyReads).toBe(path === 'owning-thread' ? counted['owning-thread'] : 0);
    } finally {
      volume.close();
    }
  }, 60_000);

  it('a clone copies every track through the engine', async () => {
    const { volume, backend } = countingSource(path);
    const target = createVolume(join(dir.path, `clone-target-${n}.ckd`), { type: '3390', cylinders: CYLINDERS, volser: 'DST001' });
    try {
      const before = copyCensus();
      const session = CloneSession.create(volume, target, { pool, activate: true, pauseAfter: 15, pauseMs: 20 });
      backend.unitsRead = 0;
      // Reads of the destination after ACTIVATE fetch their tracks on demand.
      for (let t = target.unitCount - 1; t > target.unitCount - 6; t--) target.readTrackImage(t);
      await session.whenCopied();
      session.terminate();
      expect(session.copyPath).toBe(path);
      const counted = delta(before);
      const status = session.status();
      expect(counted[path]).toBe(status.copiedInBackground);
      expect(counted['host-driven']).toBe(status.copiedOnDemand);
      expect(status.copiedOnDemand).toBeGreaterThan(0);
      expect(counted[path] + counted['host-driven']).toBe(status.tracksTotal);
      expect(backend.unitsRead).toBe(path === 'owning-thread' ? counted['owning-thread'] + counted['host-driven'] : counted['host-driven']);
    } finally {
      target.close();
      volume.close();
    }
  }, 60_000);
});

describe('the owning-thread techniques', () => {
  it('a mirror copies its first copy through the engine, and a host write to it as a host-driven copy', async () => {
    const { volume, backend } = countingSource('worker');
    const secondary = makeBlankSecondary(dir.path, `secondary-${n}.ckd`, CYLINDERS);
    try {
      const before = copyCensus();
      backend.unitsRead = 0;
      const mirror = MirrorSession.create(volume, [secondary]);
      await mirror.whenInSync({ timeoutMs: 60_000 });
      const copy = delta(before);
      expect(copy['owning-thread']).toBe(volume.unitCount);
      expect(copy.worker).toBe(0);
      // Every unit the mirror read from the primary, the engine copied.
      expect(backend.unitsRead).toBe(copy['owning-thread']);
      const afterCopy = copyCensus();
      writeAhead(volume, 3);
      expect(delta(afterCopy)['host-driven']).toBeGreaterThanOrEqual(3);
      await mirror.detach();
    } finally {
      volume.close();
    }
    expect(filesIdentical(join(dir.path, `source-${n - 1}.ckd`), secondary)).toBe(true);
  }, 60_000);

  it("a snapshot's physical copy goes through the engine on the owning thread", async () => {
    const { sub, source } = makeSubsystem(dir.path, { cylinders: 4, seed: 3 });
    const target = join(sub, 'TGT');
    const defined = defineSnapshot(source, target, { volser: 'TGT001' });
    const physical = join(dir.path, 'physical.ckd');
    const executed = executeSnapshot(defined.token, { physical });
    const volume = openVolume(target, { readOnly: true });
    let withSlot = 0;
    try {
      for (const slot of (volume.imageBackend as MappedVolumeBackend).directory.slots) if (slot !== UNALLOCATED_SLOT) withSlot++;
    } finally {
      volume.close();
    }
    const before = copyCensus();
    const done = await runPhysicalCopy(executed.pollingToken);
    expect(done.state).toBe('complete');
    const copy = delta(before);
    expect(copy['owning-thread']).toBe(withSlot);
    expect(copy.worker + copy['host-driven']).toBe(0);
    expect(compareImages(target, physical).mismatched).toBe(0);
  }, 60_000);

  it('a copy version copies through the engine of its technology (a clone: workers)', async () => {
    mkdirSync(join(dir.path, 'versions'));
    const catalog = openTestCatalog(join(dir.path, 'versions'));
    try {
      makePool(catalog, 'SRC', 'source');
      makePool(catalog, '01', 'target');
      const source = makeSource(join(dir.path, 'versions'), 's1', 31);
      const target = makeVersionTarget(join(dir.path, 'versions'), 't1');
      addVolumes(catalog, 'SRC', [source]);
      addVolumes(catalog, '01', [target], 'clone');
      const before = copyCensus();
      await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
      const copy = delta(before);
      const volume = openVolume(source, { readOnly: true });
      const units = volume.unitCount;
      volume.close();
      expect(copy.worker + copy['owning-thread'] + copy['host-driven']).toBe(units);
      expect(copy.worker).toBeGreaterThan(0);
      expect(compareImages(source, target).mismatched).toBe(0);
    } finally {
      catalog.close();
    }
  }, 60_000);
});
