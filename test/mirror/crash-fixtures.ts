/**
 * Helpers of the mirror crash harness (mirror-crash.test.ts):
 * - a shadow writer over NBD that survives the server being SIGKILLed under it: it logs every
 *   acknowledged write in a shadow that outlives the writer, and keeps the one write in flight when
 *   the connection died (which may or may not have reached the image);
 * - `ackedWritesLost`: acknowledged writes that an image does not hold; `settleInFlight` then fixes
 *   the in-flight write to what the image holds, so a later writer can go on with the same log;
 * - `stateAfterCrash`: what a `<primary>.mirror` file left by a killed server says is out of sync,
 *   as MirrorSession.resume will read it (an unclean file trusts no bit of a live mirror);
 * - `differingUnits`: the units (tracks) in which two images actually differ.
 * Images are read with read-only opens, which take no lock, so a running server may hold them.
 */
import { openVolume } from '../../src/api/volume-api.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { LIVE_STATES, type LinkState } from '../../src/techniques/mirror/mirror-link-state.js';
import { MirrorStateFile, mirrorFilePath } from '../../src/techniques/mirror/mirror-state-file.js';
import type { SeededRandom } from '../export/helpers/seeded-random.js';
import { readExport } from './remote-fixtures.js';

/** Units compared per read: 64 slots of a 3390 are ~3.6 MB. */
const COMPARE_UNITS_PER_READ = 64;
/** Largest write, in 512-byte sectors: 4 KiB, small enough to stay inside one slot. */
const MAX_WRITE_SECTORS = 8;
/** Bytes at a slot's start a write leaves alone (the home address and R0 of the track). */
const SLOT_HEAD_BYTES = 64;
/** Writes between two 1 ms pauses, so that the server's background copy gets turns. */
const WRITES_PER_PAUSE = 16;
/** A writer stops after this many writes even if nobody stops it (a bounded loop). */
const MAX_WRITES = 200_000;

export interface HostWrite {
  readonly offsetBytes: number;
  readonly data: Buffer;
}

/**
 * What the primary must hold: every acknowledged write, in order, and a shadow of the export with
 * them applied. Only the bytes of acknowledged writes are checked (the shadow starts zero), so a
 * writer can start without reading the whole export first.
 */
export interface ShadowLog {
  readonly shadow: Buffer;
  readonly acked: HostWrite[];
}

export function newShadowLog(sizeBytes: number): ShadowLog {
  return { shadow: Buffer.alloc(sizeBytes), acked: [] };
}

export interface CrashWriter {
  /** Writes this writer had acknowledged. */
  ackedCount(): number;
  /** The write sent but not acknowledged when the connection died (it may have landed), or null. */
  inFlight(): HostWrite | null;
  /** The error that ended the writer (the server went away), or undefined. */
  failure(): unknown;
  /** Stops after the write in progress; never throws (a dead server is the point of the harness). */
  stop(): Promise<void>;
}

/**
 * One write at a time, 0.5-4 KiB at a random place in the slot of a random track from `firstTrack`
 * on; each acknowledged write is applied to `log`.
 */
export async function startCrashWriter(
  port: number,
  exportName: string,
  options: { log: ShadowLog; random: SeededRandom; firstTrack: number; slotBytes: number },
): Promise<CrashWriter> {
  const { log, random, slotBytes } = options;
  const client = await NbdClient.connect({ port, exportName });
  const trackCount = log.shadow.length / slotBytes;
  let acked = 0;
  let inFlight: HostWrite | null = null;
  let failure: unknown;
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; i < MAX_WRITES && !stopped; i++) {
      const track = options.firstTrack + random.int(trackCount - options.firstTrack);
      const length = 512 * (1 + random.int(MAX_WRITE_SECTORS));
      const offsetBytes = track * slotBytes + SLOT_HEAD_BYTES + random.int(slotBytes - SLOT_HEAD_BYTES - length);
      const write: HostWrite = { offsetBytes, data: random.bytes(length) };
      inFlight = write;
      try {
        await client.write(offsetBytes, write.data);
      } catch (error) {
        failure = error;
        return;
      }
      inFlight = null;
      write.data.copy(log.shadow, offsetBytes);
      log.acked.push(write);
      acked++;
      if (i % WRITES_PER_PAUSE === WRITES_PER_PAUSE - 1) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  return {
    ackedCount: () => acked,
    inFlight: () => inFlight,
    failure: () => failure,
    stop: async () => {
      stopped = true;
      await loop;
      if (failure === undefined) await client.disconnect();
      else client.destroy();
    },
  };
}

/**
 * Acknowledged writes whose bytes `image` (the flat export) does not hold. Where the write in flight
 * at the kill (`inFlight`) overlaps, its bytes are accepted too: it was never acknowledged.
 */
export function ackedWritesLost(image: Buffer, log: ShadowLog, inFlight: HostWrite | null = null): number {
  const alternative = Buffer.from(log.shadow);
  if (inFlight !== null) inFlight.data.copy(alternative, inFlight.offsetBytes);
  let lost = 0;
  for (const write of log.acked) {
    const from = write.offsetBytes;
    const to = from + write.data.length;
    const held = image.compare(log.shadow, from, to, from, to) === 0 || image.compare(alternative, from, to, from, to) === 0;
    if (!held) lost++;
  }
  return lost;
}

/**
 * After the check: the write in flight at the kill is whatever `image` holds at its place now (it
 * landed or it did not), and that is what the primary must keep from then on.
 */
export function settleInFlight(log: ShadowLog, inFlight: HostWrite | null, image: Buffer): void {
  if (inFlight === null) return;
  const held = Buffer.from(image.subarray(inFlight.offsetBytes, inFlight.offsetBytes + inFlight.data.length));
  held.copy(log.shadow, inFlight.offsetBytes);
  log.acked.push({ offsetBytes: inFlight.offsetBytes, data: held });
}

/** The flat view of an image (its slots end to end, as the NBD export shows them), read from the file. */
export function readImageFlat(path: string): Buffer {
  const volume = openVolume(path, { readOnly: true });
  try {
    return volume.backend.readUnits(0, volume.unitCount);
  } finally {
    volume.close();
  }
}

/** Reads a whole export over a fresh NBD connection. */
export async function readWholeExport(port: number, exportName: string): Promise<Buffer> {
  const client = await NbdClient.connect({ port, exportName });
  try {
    return await readExport(client);
  } finally {
    await client.disconnect();
  }
}

export interface StateAfterCrash {
  readonly clean: boolean;
  readonly linkState: LinkState;
  /** Units the resumed mirror will copy: all after an unclean stop in a live state, else the clear bits. */
  readonly invalidUnits: ReadonlySet<number>;
  readonly unitCount: number;
}

/** Reads the state of mirror M2 from the primary's `.mirror` file (the owning server must be dead). */
export function stateAfterCrash(primaryImage: string): StateAfterCrash {
  const { file, state } = MirrorStateFile.open(mirrorFilePath(primaryImage));
  file.close();
  const stored = state.mirrors[0];
  if (stored === undefined) throw new Error(`${primaryImage}.mirror has no secondary`);
  const trustNone = !state.clean && LIVE_STATES.has(stored.linkState);
  const invalidUnits = new Set<number>();
  for (let unit = 0; unit < state.table.unitCount; unit++) if (trustNone || !state.table.isValid(unit, 2)) invalidUnits.add(unit);
  return { clean: state.clean, linkState: stored.linkState, invalidUnits, unitCount: state.table.unitCount };
}

/** Units whose slots differ between two images of the same shape. */
export function differingUnits(pathA: string, pathB: string): number[] {
  const a = openVolume(pathA, { readOnly: true });
  try {
    const b = openVolume(pathB, { readOnly: true });
    try {
      if (a.unitCount !== b.unitCount || a.backend.slotBytes !== b.backend.slotBytes) throw new Error(`${pathA} and ${pathB} differ in shape`);
      const slot = a.backend.slotBytes;
      const differing: number[] = [];
      for (let first = 0; first < a.unitCount; first += COMPARE_UNITS_PER_READ) {
        const count = Math.min(COMPARE_UNITS_PER_READ, a.unitCount - first);
        const x = a.backend.readUnits(first, count);
        const y = b.backend.readUnits(first, count);
        for (let k = 0; k < count; k++) if (x.compare(y, k * slot, (k + 1) * slot, k * slot, (k + 1) * slot) !== 0) differing.push(first + k);
      }
      return differing;
    } finally {
      b.close();
    }
  } finally {
    a.close();
  }
}
