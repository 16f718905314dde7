/**
 * Layer: scenario, with real `snaptape serve` processes. A server killed with SIGKILL leaves its
 * image's lock behind; eight servers of that image started at once race to take it over. At most
 * one of them may serve it read-write: the others exit with the LOCKED status (10). Each round's
 * winner is the next round's SIGKILLed holder.
 *
 * An end-to-end check of the takeover, not its proof: server start-up times spread the contenders
 * out, and on the code before the flock guard this test passed 10 rounds out of 10 here. The race
 * itself is reproduced, and its fix shown, by test/volume/image-lock-race.test.ts.
 */
import { createVolume } from '../../src/api/volume-api.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, startServe, type ServeProcess } from './helpers/serve-process.js';

const SERVERS = 8;
const ROUNDS = 2;

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-serve-lock-');
});
afterAll(() => {
  killAllServers();
  dir.cleanup();
});

describe('snaptape serve after a SIGKILL', () => {
  it(`${ROUNDS} rounds of ${SERVERS} servers of one image: one read-write server, the others LOCKED`, async () => {
    const image = join(dir.path, 'raced.ckd');
    createVolume(image, { type: '3390', cylinders: 3, volser: 'RACE01' }).close();
    const serveArgs = (n: string): string[] => [image, '--nbd', `unix:${join(dir.path, `${n}.nbd.sock`)}`, '--control', join(dir.path, `${n}.sock`)];
    let holder: ServeProcess = await startServe(serveArgs('first'));
    for (let round = 0; round < ROUNDS; round++) {
      // SIGKILL: the holder cannot remove its lock.
      await holder.stop('SIGKILL');
      const started = await Promise.allSettled(Array.from({ length: SERVERS }, (_, i) => startServe(serveArgs(`r${round}-${i}`))));
      // A refused server prints its error as JSON (`--json`) and exits: its "start line" is that error.
      const lines = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
      const failedToStart = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
      expect(failedToStart, `round ${round}: every server printed a line`).toEqual([]);
      const servers = lines.filter((s): s is ServeProcess => s !== undefined && s.info.nbd !== undefined);
      const refused = lines.flatMap((s) => (s !== undefined && s.info.nbd === undefined ? [s] : []));
      const writable = servers.filter((s) => s.info.nbd.exports.some((e) => !e.readOnly));
      expect(writable.length, `round ${round}: read-write servers`).toBe(1);
      expect(servers.length + refused.length).toBe(SERVERS);
      for (const s of refused) {
        expect((s.info as unknown as { error: { code: string } }).error.code).toBe('LOCKED');
        expect((await s.exited).code).toBe(10);
      }
      for (const s of servers) if (!writable.includes(s)) await s.stop();
      holder = writable[0] as ServeProcess;
    }
    await holder.stop();
  }, 120_000);
});
