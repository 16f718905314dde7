/**
 * Layer: behaviour. The mirror's background copy moves a batch of dense units (a cylinder of full
 * CKD tracks, 1 MiB of an FBA volume) as one piece: over a remote link one NBD write per batch, not
 * one per block; onto a local secondary one write through its volume per batch of FBA blocks. These
 * CKD tracks use a few KB of their slots (a sparse run): onto a local secondary a write per track
 * at most, over a link two NBD requests per track at most (its used bytes, a zero fill of its tail),
 * so that only what may differ is sent and written (mirror-sparse-secondary.test.ts,
 * mirror-remote-sparse-secondary.test.ts, which also checks one NBD write per cylinder of full tracks). Counted on the secondary's side (an NbdServer in this process over
 * a counting export, or an interceptor on the local secondary), never timed: the speed itself is
 * measured in bench/mirror-bench.mjs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume, openVolume } from '../../src/volume/open-volume.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import type { Volume } from '../../src/volume/volume.js';
import type { WriteInterceptor } from '../../src/volume/write-interceptor.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers } from '../server/helpers/serve-process.js';
import { Prng } from './mirror-fixtures.js';
import { CountingBackend, serveOn, waitForMirror } from './remote-fixtures.js';

const FBA_BLOCKS = 8 * 2048; // 8 MiB
const CKD_CYLINDERS = 8;
/** Units of one batch: a cylinder of a 3390, or 1 MiB of 512-byte FBA blocks. */
const BATCH_UNITS = { ckd: 15, fba: 2048 } as const;

let dir: TempDir | undefined;
let server: NbdServer | undefined;
afterEach(async () => {
  killAllServers();
  await server?.close();
  server = undefined;
  dir?.cleanup();
  dir = undefined;
});

/** A primary with data on every unit: random FBA blocks, or two records on every CKD track. */
function makePrimary(path: string, kind: 'fba' | 'ckd'): Volume {
  const prng = new Prng(7);
  if (kind === 'fba') {
    const v = createVolume(path, { type: 'fba', blocks: FBA_BLOCKS, volser: 'PRIM01' });
    const data = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = prng.below(256);
    // Past block 1 (VOL1); block 2 onwards, 1 MiB at a time.
    for (let b = 2; b + 2048 <= FBA_BLOCKS; b += 2048) v.writeBlocks(b, data);
    return v;
  }
  const v = createVolume(path, { type: '3390', cylinders: CKD_CYLINDERS, volser: 'PRIM01' });
  for (let t = 15; t < v.ckd.trackCount; t++) v.writeTrackRecords(t, [{ key: Buffer.alloc(0), data: Buffer.alloc(1000 + prng.below(3000), t & 0xff) }]);
  return v;
}

function makeSecondary(path: string, kind: 'fba' | 'ckd'): void {
  (kind === 'fba'
    ? createVolume(path, { type: 'fba', blocks: FBA_BLOCKS, volser: 'SEC001' })
    : createVolume(path, { type: '3390', cylinders: CKD_CYLINDERS, volser: 'SEC001' })
  ).close();
}

describe.each(['fba', 'ckd'] as const)('the mirror initial copy of a %s volume', (kind) => {
  it('sends one NBD write per batch to a remote secondary, and the secondary equals the primary', async () => {
    dir = makeTempDir('snaptape-mirror-batches-');
    const primaryPath = join(dir.path, `prim.${kind}`);
    const primary = makePrimary(primaryPath, kind);
    const unitCount = primary.unitCount;
    const batches = Math.ceil(unitCount / BATCH_UNITS[kind]);
    primary.close();
    const secondaryPath = join(dir.path, `sec.${kind}`);
    makeSecondary(secondaryPath, kind);
    // The secondary here, the primary in a `snaptape serve` child: its owning thread blocks on the
    // link while a write is in flight, so the two cannot share a thread.
    const secondary = openVolume(secondaryPath, { readOnly: false });
    const backend = new CountingBackend(secondary, { name: 'sec' });
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const prim = await serveOn(primaryPath, join(dir.path, 'prim.sock'));
    try {
      const session = await prim.control.startSession({ type: 'mirror', volume: 'prim', secondaries: [`127.0.0.1:${port}/sec`] });
      await waitForMirror(prim.control, session.id, (m) => m.inSync);
      process.stdout.write(`${kind} remote: ${unitCount} units, ${batches} batches, ${backend.writes} NBD writes\n`);
      expect(backend.writes).toBeGreaterThan(0);
      expect(backend.writes).toBeLessThanOrEqual(kind === 'fba' ? batches : 2 * unitCount);
    } finally {
      await prim.server.stop();
      await server.close();
      server = undefined;
      secondary.close();
    }
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
  });

  it('writes one batch at a time to a local secondary, and the secondary equals the primary', async () => {
    dir = makeTempDir('snaptape-mirror-batches-');
    const primaryPath = join(dir.path, `prim.${kind}`);
    const primary = makePrimary(primaryPath, kind);
    const secondaryPath = join(dir.path, `sec.${kind}`);
    makeSecondary(secondaryPath, kind);
    const mirror = MirrorSession.create(primary, [secondaryPath], { force: true });
    let writes = 0;
    try {
      // The secondary's write chain sees each write the copy makes: counted on its volume.
      const secondary = (mirror as unknown as { secondaries: { local?: Volume }[] }).secondaries[0]?.local;
      expect(secondary).toBeDefined();
      const counter: WriteInterceptor = {
        name: 'count',
        stage: 'observer',
        beforeWrite: () => {
          writes++;
        },
      };
      secondary?.addInterceptor(counter);
      await mirror.whenInSync({ timeoutMs: 30_000 });
      const batches = Math.ceil(primary.unitCount / BATCH_UNITS[kind]);
      process.stdout.write(`${kind} local: ${primary.unitCount} units, ${batches} batches, ${writes} writes\n`);
      expect(writes).toBeGreaterThan(0);
      expect(writes).toBeLessThanOrEqual(kind === 'fba' ? batches : primary.unitCount);
    } finally {
      await mirror.remove();
      primary.sync();
      primary.close();
    }
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
  });
});
