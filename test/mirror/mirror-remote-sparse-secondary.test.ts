/**
 * Layer: behaviour. A remote secondary (behind an NBD server) gets, of a sparse run of tracks, each
 * track's used bytes (the primary's size table V) and a zero fill of the rest of its slot, which
 * the secondary's server writes only where its own track may hold non-zero bytes (Volume.zeroFlat).
 * So a sparse primary gives a sparse secondary, the link carries little more than the used bytes,
 * a secondary that held other data still ends byte-identical, and a primary of full tracks still
 * goes one NBD write per batch (a cylinder). As mirror-sparse-secondary.test.ts for a local one.
 * The secondary's server runs in this process over a counting export, the primary in a `snaptape
 * serve` child (its owning thread blocks on the link); room on disk is read from stat, never timed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdServer } from '../../src/export/nbd-server.js';
import { createVolume, openVolume } from '../../src/volume/open-volume.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers } from '../server/helpers/serve-process.js';
import { CountingBackend, serveOn, waitForMirror } from './remote-fixtures.js';
import { allocatedBytes, writeFull, writeSparse } from './mirror-fixtures.js';

const CYLINDERS = 30;
const HEADS = 15;

let dir: TempDir | undefined;
let server: NbdServer | undefined;
afterEach(async () => {
  killAllServers();
  await server?.close();
  server = undefined;
  dir?.cleanup();
  dir = undefined;
});

/** Mirrors `primaryPath` onto `secondaryPath` over a link until in sync; returns the secondary's export's counts. */
async function mirrorRemote(work: string, primaryPath: string, secondaryPath: string): Promise<{ writes: number; dataBytes: number; zeroFills: number }> {
  const secondary = openVolume(secondaryPath, { readOnly: false });
  const backend = new CountingBackend(secondary, { name: 'sec' });
  server = new NbdServer({ exports: [backend] });
  const { port } = await server.listen();
  const prim = await serveOn(primaryPath, join(work, 'prim.sock'));
  try {
    const session = await prim.control.startSession({ type: 'mirror', volume: 'prim', secondaries: [`127.0.0.1:${port}/sec`] });
    await waitForMirror(prim.control, session.id, (m) => m.inSync);
    return { writes: backend.writes, dataBytes: backend.dataBytes, zeroFills: backend.zeroFills };
  } finally {
    await prim.server.stop();
    await server.close();
    server = undefined;
    secondary.close();
  }
}

function setUp(primaryFill: (v: Volume) => void, secondaryFill?: (v: Volume) => void): { primaryPath: string; secondaryPath: string; work: string } {
  dir = makeTempDir('snaptape-mirror-remote-sparse-');
  const primaryPath = join(dir.path, 'prim.ckd');
  const secondaryPath = join(dir.path, 'sec.ckd');
  const primary = createVolume(primaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'PRIM01' });
  primaryFill(primary);
  primary.close();
  const secondary = createVolume(secondaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' });
  secondaryFill?.(secondary);
  secondary.close();
  return { primaryPath, secondaryPath, work: dir.path };
}

describe('a remote mirror secondary', () => {
  it('stays sparse when the primary is sparse, and the link carries about the used bytes', async () => {
    const { primaryPath, secondaryPath, work } = setUp((v) => writeSparse(v, 5, 0x41));
    const counts = await mirrorRemote(work, primaryPath, secondaryPath);
    const slots = CYLINDERS * HEADS * 56832;
    process.stdout.write(
      `allocated: primary ${allocatedBytes(primaryPath)}, secondary ${allocatedBytes(secondaryPath)} bytes, of ${slots} in slots; ` +
        `${counts.writes} NBD writes, ${counts.dataBytes} data bytes\n`,
    );
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
    expect(allocatedBytes(secondaryPath)).toBeLessThanOrEqual(allocatedBytes(primaryPath) + 256 * 1024);
    // Every track's used bytes (a few KB where written, a few bytes where empty), not its slot.
    expect(counts.dataBytes).toBeLessThanOrEqual(((CYLINDERS * HEADS) / 5) * 4096 + 1024 * 1024);
    // Sparse tracks: two NBD writes each at most (the used bytes, the zero tail).
    expect(counts.writes).toBeLessThanOrEqual(2 * CYLINDERS * HEADS);
  });

  it("is sent a sparse run as one zero fill and then each track's used bytes", async () => {
    const { primaryPath, secondaryPath, work } = setUp((v) => writeSparse(v, 1, 0x41));
    const counts = await mirrorRemote(work, primaryPath, secondaryPath);
    process.stdout.write(`sparse primary: ${CYLINDERS * HEADS} tracks, ${counts.writes} NBD writes, of them ${counts.zeroFills} zero fills\n`);
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
    expect(allocatedBytes(secondaryPath)).toBeLessThanOrEqual(allocatedBytes(primaryPath) + 256 * 1024);
    // A zero fill per batch (a cylinder), not one per track; a WRITE per track's used bytes.
    expect(counts.zeroFills).toBeLessThanOrEqual(2 * CYLINDERS);
    expect(counts.writes).toBeLessThanOrEqual(CYLINDERS * HEADS + 2 * CYLINDERS);
  });

  it('ends byte-identical to a sparse primary when its own tracks held more', async () => {
    const { primaryPath, secondaryPath, work } = setUp(
      (v) => writeSparse(v, 4, 0x41),
      (v) => writeFull(v, 7),
    );
    await mirrorRemote(work, primaryPath, secondaryPath);
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
  });

  it('is sent one NBD write per cylinder when the primary is full', async () => {
    const { primaryPath, secondaryPath, work } = setUp((v) => writeFull(v, 3));
    const counts = await mirrorRemote(work, primaryPath, secondaryPath);
    process.stdout.write(`full primary: ${CYLINDERS} cylinders, ${counts.writes} NBD writes\n`);
    expect(counts.writes).toBeGreaterThan(0);
    // A write per full cylinder; cylinder 0 (the label, the VTOC, empty tracks) may take two per track.
    expect(counts.writes).toBeLessThanOrEqual(CYLINDERS - 1 + 2 * HEADS);
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
  });
});
