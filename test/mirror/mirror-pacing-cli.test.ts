/**
 * Layer: CLI and control API. `snaptape mirror create --pause-after M --pause-ms P` reaches the
 * server's mirror session and paces its initial copy: 150 tracks with a pause of 400 ms after
 * every 30 take at least 4 pauses long, where the unpaced copy of the same volume is quick; a bad
 * flag is a usage error, and a bad request field is refused by the server.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, parseControlEndpoint } from '../../src/api/control-client.js';
import { createVolume } from '../../src/api/volume-api.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from '../server/helpers/serve-process.js';

const CYLINDERS = 10;
const PAUSE_AFTER = 30;
const PAUSE_MS = 400;

describe('mirror create pacing through the server', () => {
  let dir: TempDir;
  let server: ServeProcess;
  let socket: string;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-mirror-pacing-cli-');
    const primary = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: CYLINDERS, seed: 7 });
    const other = makeFilledVolume(dir.path, 'other.ckd', { cylinders: CYLINDERS, seed: 8 });
    for (const name of ['sec.ckd', 'sec2.ckd', 'sec3.ckd'])
      createVolume(join(dir.path, name), { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' }).close();
    socket = join(dir.path, 'ctl.sock');
    server = await startServe([primary, other, '--control', socket]);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    killAllServers();
    dir.cleanup();
  }, 60_000);

  it(`pauses the initial copy ${PAUSE_MS} ms after every ${PAUSE_AFTER} tracks`, async () => {
    const bad = runSnaptape(['mirror', 'create', 'prim', join(dir.path, 'sec.ckd'), '--server', socket, '--pause-after', 'many']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--pause-after');
    const client = new ControlClient(parseControlEndpoint(socket));
    await expect(client.startSession({ type: 'mirror', volume: 'prim', secondaries: [join(dir.path, 'sec.ckd')], pauseMs: -1 })).rejects.toThrow(/pauseMs/);

    // The unpaced copy is timed twice, before and after the paced one, and the shorter counts: one
    // run slowed by a load spike on a shared machine would otherwise eat the pauses' margin.
    const unpacedRun = (secondary: string): number => {
      const started = Date.now();
      const unpaced = runSnaptape(['mirror', 'create', 'other', join(dir.path, secondary), '--server', socket, '--wait', '--json']);
      const ms = Date.now() - started;
      expect(unpaced.status, unpaced.stderr).toBe(0);
      const removed = runSnaptape(['mirror', 'remove', 'other', '--server', socket]);
      expect(removed.status, removed.stderr).toBe(0);
      return ms;
    };
    const firstUnpacedMs = unpacedRun('sec2.ckd');

    const started = Date.now();
    const paced = runSnaptape([
      'mirror',
      'create',
      'prim',
      join(dir.path, 'sec.ckd'),
      '--server',
      socket,
      '--wait',
      '--json',
      '--pause-after',
      String(PAUSE_AFTER),
      '--pause-ms',
      String(PAUSE_MS),
    ]);
    const pacedMs = Date.now() - started;
    expect(paced.status, paced.stderr).toBe(0);
    const unpacedMs = Math.min(firstUnpacedMs, unpacedRun('sec3.ckd'));
    const mirrors = (JSON.parse(paced.stdout) as { progress: { mirrors: { inSync: boolean; resync: { copied: number } }[] } }).progress.mirrors;
    expect(mirrors[0]?.inSync).toBe(true);
    const tracks = CYLINDERS * 15;
    const pauses = Math.floor((tracks - 1) / PAUSE_AFTER);
    console.log(`mirror create of ${tracks} tracks: ${unpacedMs} ms unpaced, ${pacedMs} ms with a pause of ${PAUSE_MS} ms after every ${PAUSE_AFTER} tracks`);
    expect(pacedMs).toBeGreaterThanOrEqual(pauses * PAUSE_MS);
    expect(pacedMs - unpacedMs).toBeGreaterThanOrEqual(pauses * PAUSE_MS * 0.8);
  }, 120_000);
});
