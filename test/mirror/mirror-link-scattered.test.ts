/**
 * Layer: behaviour. A remote mirror's background copy reads each batch straight into the link
 * channel slot it is sent from. A batch of scattered units is many runs, and the link sends at most
 * 64 runs per request, so one batch of 2048 scattered FBA blocks becomes 32 requests: more than the
 * channel has slots, so the slot the batch was read into is used again while later requests of the
 * same batch still take their bytes from it. After a resync of every other block (split, written,
 * rejoined) the secondary, behind a `snaptape serve` child over NBD on loopback, equals the
 * primary byte for byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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
  it('sends batches of more requests than the channel has slots, and the secondary equals the primary', async () => {
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
      mirror.rejoin();
      await mirror.whenInSync({ timeoutMs: 30_000 });
      const resync = mirror.status().mirrors[0]?.resync;
      process.stdout.write(`scattered resync: ${written} blocks written, ${resync?.copied} copied\n`);
      expect(resync?.copied).toBe(written);
    } finally {
      await mirror.remove();
      primary.close();
      await sec.server.stop();
    }
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
  });
});
