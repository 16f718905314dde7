/**
 * A backup tape served as the volume it holds (`snaptape serve --tape full.aws`), read-only and with
 * no restore: a read goes straight to the tape blocks that hold the bytes asked for, found through
 * the tape's block index (built when the tape is opened, `TapeReader`).
 *
 * The export is the byte view a restore of the tape would give (the server's byte view of a volume,
 * volume-backend.ts): for a CKD whole-volume backup, track t's slot at t × slot size holds tape
 * block t of the volume element, then zeroes to the end of the slot; for an FBA backup, the blocks
 * each tape block holds, at their block numbers. Only a backup that covers the whole volume is
 * served (a data set backup is not a volume).
 *
 * Trust: the tape must be finished (no backup writing it, none stopped half-way), its labels must
 * match their digest, and the geometry they record must agree with the device type and with the
 * blocks the tape holds (every track, or every FBA block once). The elements' SHA-256 digests are not read at open:
 * that would read the whole tape; `snaptape verify` does it.
 *
 * Chains: a full backup with incrementals on top is the planned input (`openTapeExport` takes the
 * tapes in order); until incremental tapes exist, more than one tape is refused.
 *
 * Invariants: every write is refused (the backend is read-only; the server answers EPERM); memory is
 * one tape block (the last one read, kept for the reads that follow it) plus the index.
 */
import { UsageError } from '../../errors/snaptape-error.js';
import type { NbdExportBackend } from '../../export/nbd-backend.js';
import type { MetaContextSource } from '../../export/nbd-meta-context.js';
import { usedPrefixAllocation, zeroScanAllocation } from '../../export/allocation-context.js';
import { exportNameFor } from '../../export/volume-backend.js';
import { parseGeometry } from '../../geometry/volume-geometry.js';
import { FBA_BLOCK_BYTES } from '../../geometry/device-types.js';
import { openBackupTape, type BackupTape } from './backup-tape.js';
import { requireLabelsMatch } from './tape-trust.js';

/** Where the export's bytes are: segment i starts at `start[i]`, and its first `used[i]` bytes are tape block `block[i]`. */
interface Segments {
  readonly start: Float64Array;
  readonly block: Uint32Array;
  readonly used: Uint32Array;
}

export class TapeVolumeBackend implements NbdExportBackend {
  // Set once.
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly = true;
  readonly canTrim = false;
  readonly path: string;
  private readonly tape: BackupTape;
  private readonly segments: Segments;
  private readonly contexts: readonly MetaContextSource[];
  // Main thread only.
  private cached: { readonly blockNumber: number; readonly data: Buffer } | undefined;
  private closed = false;

  private constructor(tape: BackupTape, name: string, sizeBytes: number, segments: Segments, slotBytes: number | undefined) {
    this.tape = tape;
    this.path = tape.path;
    this.name = name;
    this.sizeBytes = sizeBytes;
    this.segments = segments;
    this.contexts = [
      slotBytes !== undefined
        ? usedPrefixAllocation(slotBytes, (track) => segments.used[track] ?? 0)
        : zeroScanAllocation(sizeBytes, (offsetBytes, length) => this.read(offsetBytes, length)),
    ];
  }

  /** Opens a finished backup tape whose labels match their digest, and indexes where each unit's bytes are. */
  static open(tapePath: string, options: { readonly name?: string } = {}): TapeVolumeBackend {
    const tape = openBackupTape(tapePath);
    try {
      requireLabelsMatch('serve', tape);
      const name = options.name ?? exportNameFor(tapePath);
      if (tape.source.kind === 'ckd') {
        const geometry = parseGeometry(tape.source.typeName, { cylinders: tape.source.size });
        const element = tape.elements.find((e) => e.description.kind === 'volume');
        if (geometry.kind !== 'ckd' || geometry.trackSlotBytes !== tape.source.slotBytes) {
          throw new UsageError(`Cannot serve ${tapePath} as a volume: its labels record ${tape.source.slotBytes}-byte slots for a ${tape.source.typeName}`, {
            path: tapePath,
          });
        }
        if (element === undefined || element.blockCount !== geometry.trackCount) {
          throw new UsageError(`Cannot serve ${tapePath} as a volume: it is not a whole-volume backup (it holds ${describeElements(tape)})`, {
            path: tapePath,
          });
        }
        const slotBytes = geometry.trackSlotBytes;
        const segments = newSegments(geometry.trackCount);
        for (let t = 0; t < geometry.trackCount; t++) {
          segments.start[t] = t * slotBytes;
          segments.block[t] = element.firstBlockNumber + t;
          segments.used[t] = Math.min(slotBytes, blockBytes(tape, element.firstBlockNumber + t));
        }
        return new TapeVolumeBackend(tape, name, geometry.trackCount * slotBytes, segments, slotBytes);
      }
      return new TapeVolumeBackend(tape, name, tape.source.size * FBA_BLOCK_BYTES, fbaSegments(tape), undefined);
    } catch (error) {
      tape.reader.close();
      throw error;
    }
  }

  metaContexts(): readonly MetaContextSource[] {
    return this.contexts;
  }

  read(offsetBytes: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    const end = offsetBytes + length;
    const { start, block, used } = this.segments;
    // Bounded: each turn moves to the next segment, and stops past the range.
    for (let i = this.segmentAt(offsetBytes); i < start.length && (start[i] as number) < end; i++) {
      const from = start[i] as number;
      const dataEnd = from + (used[i] as number);
      const lo = Math.max(from, offsetBytes);
      const hi = Math.min(dataEnd, end);
      if (hi > lo) this.blockData(block[i] as number).copy(out, lo - offsetBytes, lo - from, hi - from);
    }
    return out;
  }

  write(): void {
    throw new UsageError(`Cannot write export '${this.name}': it is the backup tape ${this.path}, served read-only`, { path: this.path });
  }

  writeZeroes(): void {
    this.write();
  }

  /** Nothing is written, so nothing to make durable. */
  flush(): void {}

  /** Closes the tape. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cached = undefined;
    this.tape.reader.close();
  }

  /** Index of the last segment starting at or before `offsetBytes` (0 when none does). */
  private segmentAt(offsetBytes: number): number {
    const { start } = this.segments;
    let lo = 0;
    let hi = start.length - 1;
    // Bounded: binary search, the interval halves each turn.
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((start[mid] as number) <= offsetBytes) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private blockData(blockNumber: number): Buffer {
    if (this.cached?.blockNumber !== blockNumber) this.cached = { blockNumber, data: this.tape.reader.readBlockData(blockNumber) };
    return this.cached.data;
  }
}

function newSegments(count: number): Segments {
  return { start: new Float64Array(count), block: new Uint32Array(count), used: new Uint32Array(count) };
}

/** A tape block's data length: from the index when stored plain, else read (a HET block is compressed). */
function blockBytes(tape: BackupTape, blockNumber: number): number {
  const entry = tape.reader.entry(blockNumber);
  return entry.compression === 'none' ? entry.storedBytes : tape.reader.readBlockData(blockNumber).length;
}

function describeElements(tape: BackupTape): string {
  return tape.elements.map((e) => `${e.description.kind} ${e.description.dsname ?? e.name}`).join(', ');
}

/** FBA: each tape block holds whole 512-byte blocks from where its element starts; they must cover the volume once. */
function fbaSegments(tape: BackupTape): Segments {
  const pieces: { start: number; block: number; used: number }[] = [];
  for (const element of tape.elements) {
    let at = (element.description.firstBlock ?? 0) * FBA_BLOCK_BYTES;
    for (let j = 0; j < element.blockCount; j++) {
      const bytes = blockBytes(tape, element.firstBlockNumber + j);
      pieces.push({ start: at, block: element.firstBlockNumber + j, used: bytes });
      at += bytes;
    }
  }
  pieces.sort((a, b) => a.start - b.start);
  let covered = 0;
  for (const piece of pieces) {
    if (piece.start !== covered || piece.used % FBA_BLOCK_BYTES !== 0) break;
    covered += piece.used;
  }
  if (covered !== tape.source.size * FBA_BLOCK_BYTES) {
    throw new UsageError(
      `Cannot serve ${tape.path} as a volume: its blocks do not cover the ${tape.source.size}-block volume once (it holds ${describeElements(tape)})`,
      {
        path: tape.path,
      },
    );
  }
  const segments = newSegments(pieces.length);
  pieces.forEach((piece, i) => {
    segments.start[i] = piece.start;
    segments.block[i] = piece.block;
    segments.used[i] = piece.used;
  });
  return segments;
}

/**
 * The export of a tape, or of a chain (a full backup, then its incrementals in order). Only a single
 * tape is served for now: an incremental tape's format is not settled, and a chain needs it to know
 * which tracks each link replaces.
 */
export function openTapeExport(tapePaths: readonly string[]): TapeVolumeBackend {
  const first = tapePaths[0];
  if (first === undefined) throw new UsageError('Cannot serve a tape: no tape given');
  if (tapePaths.length > 1) {
    throw new UsageError(
      `Cannot serve a chain of ${tapePaths.length} tapes (${tapePaths.join(', ')}): serving a full backup with incrementals needs incremental tapes, which this version cannot read; serve the full backup alone`,
      { path: first },
    );
  }
  return TapeVolumeBackend.open(first);
}
