/**
 * Helpers of the remote-mirror tests: a primary and a secondary `snaptape serve` child process on
 * loopback, the mirror session's status through the control API, and an NBD writer that keeps a
 * shadow of every acknowledged write (to show that none is lost on the primary).
 */
import { join } from 'node:path';
import { ControlClient } from '../../src/api/control-client.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { scatteredLength, type ScatteredBytes } from '../../src/base/scattered-bytes.js';
import type { SessionInfo } from '../../src/control-api/control-api-types.js';
import type { MirrorSessionStatus, MirrorStatus } from '../../src/techniques/mirror/mirror-types.js';
import { SeededRandom } from '../export/helpers/seeded-random.js';
import { startServe, type ServeProcess } from '../server/helpers/serve-process.js';

export const SLOT_READ_BYTES = 1024 * 1024;

/** `snaptape serve` of `image` on loopback TCP (`port`, 0 for any), with `extra` arguments (e.g. a log file). */
export async function serveOn(
  image: string,
  socket: string,
  port = 0,
  extra: readonly string[] = [],
): Promise<{ server: ServeProcess; control: ControlClient }> {
  const server = await startServe([image, '--nbd', `127.0.0.1:${port}`, '--insecure-tcp', '--control', socket, ...extra]);
  return { server, control: new ControlClient({ kind: 'unix', socketPath: socket }) };
}

export function mirrorStatus(info: SessionInfo): MirrorSessionStatus {
  return info.progress as unknown as MirrorSessionStatus;
}

export async function mirrorOf(control: ControlClient, id: string): Promise<MirrorStatus> {
  const status = mirrorStatus(await control.getSession(id));
  const first = status.mirrors[0];
  if (first === undefined) throw new Error('mirror session has no secondary');
  return first;
}

/** Polls until `test` holds (or fails after `timeoutMs`, printing the last status). */
export async function waitForMirror(control: ControlClient, id: string, test: (m: MirrorStatus) => boolean, timeoutMs = 30_000): Promise<MirrorStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: MirrorStatus | undefined;
  // Bounded by the deadline.
  while (Date.now() < deadline) {
    last = await mirrorOf(control, id);
    if (test(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mirror did not reach the expected state in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

export async function activeMirrorId(control: ControlClient): Promise<string> {
  const found = (await control.listSessions()).find((s) => s.type === 'mirror' && s.state === 'running');
  if (!found) throw new Error('no running mirror session');
  return found.id;
}

/** Reads a whole export. */
export async function readExport(client: NbdClient): Promise<Buffer> {
  const size = client.info.sizeBytes;
  const parts: Buffer[] = [];
  for (let at = 0; at < size; at += SLOT_READ_BYTES) parts.push(await client.read(at, Math.min(SLOT_READ_BYTES, size - at)));
  return Buffer.concat(parts);
}

export interface ShadowWriter {
  readonly shadow: Buffer;
  readonly tracks: Set<number>;
  acked(): number;
  /** Writes until stopped; a write the server refuses ends the writer with that error. */
  stop(): Promise<void>;
  /** Waits for all `maxWrites` writes, then disconnects. */
  finish(): Promise<void>;
}

/**
 * Random raw writes (0.5-4 KiB) into the slots of tracks past cylinder 0, one at a time; each
 * acknowledged write is applied to `shadow`, which then is what the primary must hold.
 */
export async function startShadowWriter(
  port: number,
  exportName: string,
  options: { random: SeededRandom; firstTrack: number; slotBytes: number; pick?: () => number; maxWrites?: number },
): Promise<ShadowWriter> {
  const client = await NbdClient.connect({ port, exportName });
  const shadow = await readExport(client);
  const trackCount = shadow.length / options.slotBytes;
  const tracks = new Set<number>();
  let stopped = false;
  let acked = 0;
  const loop = (async () => {
    // Bounded by maxWrites.
    for (let i = 0; i < (options.maxWrites ?? 100_000) && !stopped; i++) {
      const track = options.pick?.() ?? options.firstTrack + options.random.int(trackCount - options.firstTrack);
      const length = 512 * (1 + options.random.int(8));
      const offset = track * options.slotBytes + 64 + options.random.int(options.slotBytes - 64 - length);
      const data = options.random.bytes(length);
      await client.write(offset, data);
      data.copy(shadow, offset);
      tracks.add(track);
      acked++;
      if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  return {
    shadow,
    tracks,
    acked: () => acked,
    finish: async () => {
      try {
        await loop;
      } finally {
        await client.disconnect();
      }
    },
    stop: async () => {
      stopped = true;
      try {
        await loop;
      } finally {
        await client.disconnect();
      }
    },
  };
}

export function socketIn(dir: string, name: string): string {
  return join(dir, name);
}

/**
 * An export that counts the NBD writes (data and zero fills) it is sent, landing in the request
 * (`write`, `writeZeroes`) or in flight (`writeAsync`, `writeZeroesAsync`: the server's WRITEs in
 * flight), and the data bytes among them.
 */
export class CountingBackend extends VolumeBackend {
  writes = 0;
  dataBytes = 0;
  /** Of `writes`, the zero fills (WRITE_ZEROES). */
  zeroFills = 0;
  override write(offsetBytes: number, data: Buffer): void {
    this.writes++;
    this.dataBytes += data.length;
    super.write(offsetBytes, data);
  }
  override writeZeroes(offsetBytes: number, length: number): void {
    this.writes++;
    this.zeroFills++;
    super.writeZeroes(offsetBytes, length);
  }
  override writeAsync(offsetBytes: number, data: ScatteredBytes): Promise<void> {
    this.writes++;
    this.dataBytes += scatteredLength(data);
    return super.writeAsync(offsetBytes, data);
  }
  override writeZeroesAsync(offsetBytes: number, length: number): Promise<void> {
    this.writes++;
    this.zeroFills++;
    return super.writeZeroesAsync(offsetBytes, length);
  }
}
