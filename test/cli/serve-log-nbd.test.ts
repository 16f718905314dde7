/**
 * Layers: CLI (`serve --log-file`) with real NBD clients. A request the server refuses (a write to
 * a mirror's protected secondary: read-only to every other client), an export it refuses (the
 * secondary split from its own side: held) and a client that breaks the protocol are in the
 * server's log at warn, naming the export, the command and the reason: an
 * operator reading the log of a secondary learns who was refused and why. The connections are
 * logged at debug only. (Requests the backend fails: test/server/nbd-event-log.test.ts.)
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { logLines } from '../harness/log-lines.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, nbdPort } from '../server/helpers/serve-process.js';
import { makeBlankSecondary } from '../mirror/mirror-fixtures.js';
import { serveOn, waitForMirror } from '../mirror/remote-fixtures.js';

const CYLS = 2;
const SLOT_BYTES = 56_832;
const PINO_WARN = 40;
const PINO_DEBUG = 20;

/** Sends `bytes` as the first thing on a fresh NBD connection and waits for the server to drop it. */
function sendGarbage(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    socket.on('data', () => undefined);
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

describe('serve logs what its NBD clients were refused', () => {
  let dir: TempDir | undefined;
  afterEach(() => {
    killAllServers();
    dir?.cleanup();
  });

  it('a refused write and a protocol error at warn, connections at debug', async () => {
    dir = makeTempDir('snaptape-serve-log-nbd-');
    const primaryImage = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: CYLS, seed: 7 });
    const secondaryImage = makeBlankSecondary(dir.path, 'sec.ckd', CYLS);
    const log = join(dir.path, 'sec.log');
    const { server: sec } = await serveOn(secondaryImage, join(dir.path, 'sec.sock'), 0, ['--log-file', log, '--log-level', 'debug']);
    const prim = await serveOn(primaryImage, join(dir.path, 'prim.sock'));
    const port = nbdPort(sec.info);
    const session = await prim.control.startSession({ type: 'mirror', volume: 'prim', secondaries: [`127.0.0.1:${port}/sec`] });
    await waitForMirror(prim.control, session.id, (m) => m.inSync);

    const intruder = await NbdClient.connect({ port, exportName: 'sec' });
    await expect(intruder.write(3 * SLOT_BYTES, Buffer.alloc(512, 0x77))).rejects.toThrow(/EPERM/);
    await intruder.disconnect();
    // Split from the secondary's side: the export is held, and a new client is refused it.
    runSnaptapeOk(['mirror', 'split', 'sec', '--from-secondary', '--server', join(dir.path, 'sec.sock')]);
    await expect(NbdClient.connect({ port, exportName: 'sec' })).rejects.toThrow(/split by its secondary server/);
    // Not the NBD greeting's answer: the server drops the connection as a protocol error.
    await sendGarbage(port, Buffer.alloc(64, 0xee));
    await prim.control.removeMirror(session.id);
    expect((await sec.stop()).code).toBe(0);

    const lines = logLines(log);
    const refused = lines.filter((l) => l.event === 'nbd.request-refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      level: PINO_WARN,
      export: 'sec',
      command: 'WRITE',
      errno: 'EPERM',
      reason: 'the export is read-only to this connection',
    });
    // The client's refusal, and the primary's link if it tried to reconnect meanwhile (it is refused too).
    const held = lines.filter((l) => l.event === 'nbd.export-refused');
    expect(held.length).toBeGreaterThanOrEqual(1);
    for (const line of held) {
      expect(line).toMatchObject({ level: PINO_WARN, export: 'sec' });
      expect(String(line['reason'])).toMatch(/split by its secondary server/);
    }
    const broken = lines.filter((l) => l.event === 'nbd.protocol-error');
    expect(broken.length).toBeGreaterThanOrEqual(1);
    expect(broken.every((l) => l.level === PINO_WARN && typeof l['reason'] === 'string' && (l['reason'] as string).length > 0)).toBe(true);
    const connections = lines.filter((l) => l.event === 'nbd.connection');
    expect(connections.length).toBeGreaterThanOrEqual(4); // the link's, the intruder's, the garbage's: opened and closed
    expect(connections.every((l) => l.level === PINO_DEBUG)).toBe(true);
  });
});
