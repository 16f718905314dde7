/**
 * Layer: behaviour. A remote mirror's background copy reads each batch straight into the link
 * channel slot it is sent from. A batch of scattered units is many runs: one batch of 2048 scattered
 * FBA blocks is 2048 runs, all in one request of the channel (mirror-limits.ts LINK_BATCH_UNITS),
 * so the copy never waits on the owning thread for a slot (it did, for batches of more requests than
 * the channel has slots: 44 blocking waits in this resync). After a resync of every other block
 * (split, written, rejoined) the secondary, behind a `snaptape serve` child over NBD on loopback,
 * equals the primary byte for byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createVolume } from '../../src/volume/open-volume.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, nbdPort } from '../server/helpers/serve-process.js';
import { Prng } from './mirror-fixtures.js';
import { serveOn } from './remote-fixtures.js';

const BLOCKS = 8192;
const BLOCK = 512;

let dir: TempDir | undefined;
afterEach(() => {
  killAllServers();
  dir?.cleanup();
  dir = undefined;
});

function randomBytes(prng: Prng, length: number): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = prng.below(256);
  return data;
}

describe('a remote mirror resync of scattered FBA blocks', () => {
  it('sends each batch of scattered blocks as one request without blocking, and the secondary equals the primary', async () => {
    dir = makeTempDir('snaptape-mirror-scattered-');
    const prng = new Prng(11);
    const primaryPath = join(dir.path, 'prim.fba');
    const secondaryPath = join(dir.path, 'sec.fba');
    createVolume(secondaryPath, { type: 'fba', blocks: BLOCKS, volser: 'SEC001' }).close();
    const primary: Volume = createVolume(primaryPath, { type: 'fba', blocks: BLOCKS, volser: 'PRIM01' });
    // Past block 1 (VOL1).
    primary.writeBlocks(2, randomBytes(prng, (BLOCKS - 2) * BLOCK));
    const sec = await serveOn(secondaryPath, join(dir.path, 'sec.sock'));
    const mirror = MirrorSession.create(primary, [`127.0.0.1:${nbdPort(sec.server.info)}/sec`]);
    try {
      await mirror.whenInSync({ timeoutMs: 30_000 });
      mirror.split();
      // Every other block: each one a run of its own, 2048 of them per batch of the resync.
      let written = 0;
      for (let b = 3; b < BLOCKS; b += 2) {
        primary.writeBlocks(b, randomBytes(prng, BLOCK));
        written++;
      }
      // The owning thread must not block while the background copy waits for the link: the
      // server's other clients and the host's writes wait with it (about 0.5 s at a time, measured).
      const reconnectsBefore = mirror.status().mirrors[0]?.reconnects ?? 0;
      const waits = vi.spyOn(Atomics, 'wait');
      mirror.rejoin();
      await mirror.whenInSync({ timeoutMs: 30_000 });
      const blocked = waits.mock.calls.length;
      waits.mockRestore();
      const status = mirror.status().mirrors[0];
      const resync = status?.resync;
      // The rejoin's own reconnect is one; more is a link that dropped during the resync.
      const reconnects = (status?.reconnects ?? 0) - reconnectsBefore;
      process.stdout.write(
        `scattered resync: ${written} blocks written, ${resync?.copied} copied, ${blocked} blocking waits on the owning thread, ${reconnects} reconnects (${status?.lastError ?? 'no error'})\n`,
      );
      // A link that timed out on a loaded machine (seen once, in a full run beside another) starts
      // a new resync when it is back, which counts only what was left: 2048 of 4095. The secondary
      // must still equal the primary (below).
      if (reconnects <= 1) expect(resync?.copied).toBe(written);
      else expect(resync?.copied).toBeLessThanOrEqual(written);
      expect(blocked, 'blocking waits on the owning thread during the resync').toBe(0);
    } finally {
      await mirror.remove();
      primary.close();
      await sec.server.stop();
    }
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
  });
});
