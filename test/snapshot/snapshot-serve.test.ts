/**
 * The snapshot technique inside `snaptape serve` (issue 6): a `snapshot` session on two served
 * mapped volumes runs define and execute on the volumes the server holds open; an NBD write to the
 * source afterwards is a copy-on-write that the target does not see; `compare` opens mapped volumes.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { compareImages } from '../../src/api/drill-api.js';
import { describeVolume, withVolume } from '../../src/api/volume-api.js';
import { createMappedVolume } from '../../src/volume/mapped-volume.js';
import { poolUsage } from '../../src/subsystem/subsystem-check.js';
import { isSnaptapeError } from '../../src/errors/snaptape-error.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { killAllServers, nbdPort, startServe, type ServeProcess } from '../server/helpers/serve-process.js';
import { DATA_FIRST_TRACK, makeSubsystem } from './helpers/subsystem-fixtures.js';

const SLOT_BYTES = 56832; // 3390 track slot
/** Inside track 2, a written (so shared after the snapshot) track of the source. */
const WRITE_OFFSET = DATA_FIRST_TRACK * SLOT_BYTES + 8192;

describe('snapshot session of snaptape serve', () => {
  let dir: TempDir;
  let sub: string;
  let source: string;
  let target: string;
  let server: ServeProcess;
  let client: ControlClient;
  let sourceSlots: number;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-snapserve-');
    ({ sub, source } = makeSubsystem(dir.path));
    sourceSlots = poolUsage(sub).referencedSlots;
    target = join(sub, 'TGT');
    createMappedVolume(target, { type: '3390', cylinders: 2, volser: 'TGT001', vtocTracks: 1 }).close();
    const socket = join(dir.path, 'ctl.sock');
    server = await startServe([source, target, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    client = new ControlClient({ kind: 'unix', socketPath: socket });
  }, 60_000);

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('refuses a whole-volume snapshot without a new volser, and keeps no session', async () => {
    const refusal = await client.startSession({ type: 'snapshot', volume: 'SRC', target: 'TGT' }).catch((error: unknown) => error);
    expect(isSnaptapeError(refusal) && refusal.code).toBe('USAGE');
    expect((await client.listSessions()).filter((s) => s.type === 'snapshot')).toEqual([]);
  });

  it('runs define and execute on the served volumes, and reports the tokens', async () => {
    const started = await client.startSession({ type: 'snapshot', volume: 'SRC', target: 'TGT', volser: 'NEW001' });
    expect(started.type).toBe('snapshot');
    expect(started.state).toBe('completed');
    expect(started.progress).toMatchObject({ state: 'complete', mode: 'volume', volser: 'NEW001', target, tracks: 30 });
    expect(started.progress?.['token']).toEqual(expect.any(String));
    expect(started.progress?.['pollingToken']).toEqual(expect.any(String));
    const done = await client.waitForSession(started.id);
    expect(done.state).toBe('completed');
    expect(done.progress?.['pollingToken']).toBe(started.progress?.['pollingToken']);
    // The server's own view of the target (its held Volume) shows the new label.
    const volumes = await client.listVolumes();
    expect(volumes.find((v) => v.name === 'TGT')?.volser).toBe('NEW001');
    expect(volumes.find((v) => v.name === 'SRC')?.volser).toBe('SRC001');
    // The polling token answers through the CLI as well.
    const status = runSnaptape(['snapshot', 'status', String(started.progress?.['pollingToken']), '--json']);
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'complete', volser: 'NEW001' });
  });

  it('an NBD write to the source is a copy-on-write the target does not see', async () => {
    const base = `nbd://127.0.0.1:${nbdPort(server.info)}`;
    const write = await runToolAsync('qemu-io', ['-f', 'raw', `${base}/SRC`, '-c', `write -P 0x5a ${WRITE_OFFSET} 4096`]);
    expect(write.status, write.stderr + write.stdout).toBe(0);
    const sourceRead = await runToolAsync('qemu-io', ['-f', 'raw', `${base}/SRC`, '-c', `read -P 0x5a ${WRITE_OFFSET} 4096`]);
    expect(sourceRead.stdout + sourceRead.stderr).not.toMatch(/Pattern verification failed/);
    const targetRead = await runToolAsync('qemu-io', ['-f', 'raw', `${base}/TGT`, '-c', `read -P 0x5a ${WRITE_OFFSET} 4096`]);
    expect(targetRead.stdout + targetRead.stderr).toMatch(/Pattern verification failed/);
  });

  it('after the server stops, each volume holds its own data, and the snapshot cost two slots', async () => {
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    const pattern = Buffer.alloc(4096, 0x5a);
    withVolume(source, { readOnly: true }, (v) => {
      expect(v.readFlat(WRITE_OFFSET, 4096).equals(pattern)).toBe(true);
      expect(describeVolume(v).volser).toBe('SRC001');
    });
    withVolume(target, { readOnly: true }, (v) => {
      expect(v.readFlat(WRITE_OFFSET, 4096).equals(pattern)).toBe(false);
      expect(describeVolume(v).volser).toBe('NEW001');
    });
    // Track 0 (the VOL1 volser) and track 2 (the NBD write) differ; every other track is shared.
    expect(compareImages(source, target)).toEqual({ units: 30, mismatched: 2, firstMismatch: 0 });
    // The target's old slots are freed; its VOL1 and the source's written track are new slots.
    expect(poolUsage(sub).referencedSlots).toBe(sourceSlots + 2);
  });
});

describe('compare of mapped volumes', () => {
  let dir: TempDir;

  beforeAll(() => {
    dir = makeTempDir('snaptape-mapcmp-');
  });

  afterAll(() => dir.cleanup());

  it('finds two mapped volumes equal, then the one track that differs', () => {
    const { sub } = makeSubsystem(dir.path);
    const a = join(sub, 'A');
    const b = join(sub, 'B');
    for (const path of [a, b]) {
      const v = createMappedVolume(path, { type: '3390', cylinders: 2, volser: 'CMP001', vtocTracks: 1 });
      try {
        v.writeTrackRecords(5, [{ key: Buffer.alloc(0), data: Buffer.alloc(3000, 7) }]);
      } finally {
        v.close();
      }
    }
    expect(compareImages(a, b)).toEqual({ units: 30, mismatched: 0, firstMismatch: null });
    const equal = runSnaptape(['compare', a, b, '--json']);
    expect(equal.status, equal.stderr).toBe(0);
    expect(JSON.parse(equal.stdout)).toMatchObject({ mismatched: 0 });

    withVolume(b, {}, (v) => v.writeTrackRecords(9, [{ key: Buffer.alloc(0), data: Buffer.alloc(100, 1) }]));
    expect(compareImages(a, b)).toEqual({ units: 30, mismatched: 1, firstMismatch: 9 });
    const different = runSnaptape(['compare', a, b]);
    expect(different.status).not.toBe(0);
    expect(different.stderr).toMatch(/Cannot match .* 1 units differ, the first is unit 9/);
  });
});
