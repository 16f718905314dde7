/**
 * Helpers for tests that drive sessions on a running `snaptape serve`: wait for a session to reach
 * a state (bounded polls), and rewrite tracks of an export over NBD (real host writes through the
 * server's interceptor chain).
 */
import type { ControlClient } from '../../../src/api/control-client.js';
import { NbdClient } from '../../../src/export/nbd-client.js';
import type { SessionInfo } from '../../../src/control-api/control-api-types.js';
import { nbdPort, type ServeProcess } from './serve-process.js';

/** Bounded polls: 50 ms steps, at most this many (30 s). */
const MAX_POLLS = 600;
const POLL_MS = 50;

export async function pollSession(client: ControlClient, id: string, done: (s: SessionInfo) => boolean): Promise<SessionInfo> {
  let session = await client.getSession(id);
  for (let i = 0; i < MAX_POLLS && !done(session); i++) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    session = await client.getSession(id);
  }
  if (!done(session)) throw new Error(`session ${id} did not reach the awaited state: ${JSON.stringify(session.progress)}`);
  return session;
}

/** Writes each track's own bytes back over NBD: a real write through the chain that changes nothing. */
export async function rewriteTracksOverNbd(server: ServeProcess, exportName: string, trackCount: number, tracks: readonly number[]): Promise<void> {
  const nbd = await NbdClient.connect({ port: nbdPort(server.info), exportName });
  const slotBytes = (server.info.nbd.exports.find((e) => e.name === exportName)?.sizeBytes ?? 0) / trackCount;
  for (const t of tracks) await nbd.write(t * slotBytes, await nbd.read(t * slotBytes, slotBytes));
  await nbd.disconnect();
}
