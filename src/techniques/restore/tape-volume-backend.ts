/**
 * A backup tape, or a chain of them, served as the volume it holds (`snaptape serve --tape full.aws
 * [inc1.aws …]`), read-only and with no restore: a read goes straight to the tape blocks that hold
 * the bytes asked for, found through each tape's block index (built when the tape is opened,
 * `TapeReader`).
 *
 * The export is the byte view a restore of the tape (or of the chain) would give (the server's byte
 * view of a volume, volume-backend.ts): for a CKD whole-volume backup, track t's slot at t × slot
 * size holds tape block t of the volume element, then zeroes to the end of the slot; for an FBA
 * backup, the blocks each tape block holds, at their block numbers. Only a backup that covers the
 * whole volume is served (a data set backup is not a volume).
 *
 * A chain is a full backup, then its incrementals in order (restore-chain.ts): each track (or FBA
 * block) is read from the last tape of the chain that holds it, as `restore FULL INC…` writes the
 * incrementals over the full one. The chain must follow (`requireChainFollows`, the check of
 * `restore` and `verify --chain`: each link's base is the tape before it, by checkpoint, volser and
 * whole-tape SHA-256), so opening a chain reads each of its tapes once for that digest; every tape
 * must hold the same source volume, and an incremental only runs of tracks or blocks inside it.
 *
 * Trust: every tape must be finished (no backup writing it, none stopped half-way), its labels must
 * match their digest, and the geometry they record must agree with the device type and with the
 * blocks the tape holds (every track, or every FBA block once). The elements' SHA-256 digests are
 * not read at open: that would read the whole tape again; `snaptape verify` does it.
 *
 * Invariants: every write is refused (the backend is read-only; the server answers EPERM); memory is
 * one tape block (the last one read, kept for the reads that follow it) plus the indexes.
 */
import { TapeFormatError, UsageError } from '../../errors/snaptape-error.js';
import type { NbdExportBackend } from '../../export/nbd-backend.js';
import type { MetaContextSource } from '../../export/nbd-meta-context.js';
import { usedPrefixAllocation, zeroScanAllocation } from '../../export/allocation-context.js';
import { exportNameFor } from '../../export/volume-backend.js';
import { parseGeometry } from '../../geometry/volume-geometry.js';
import { FBA_BLOCK_BYTES } from '../../geometry/device-types.js';
import { openBackupTape, type BackupTape } from './backup-tape.js';
import { requireChainFollows } from './restore-chain.js';
import { describeElements, incrementalRun, requireIncrementalsFit, requireLabelsMatch } from './tape-trust.js';

/**
 * Where the export's bytes are: segment i starts at `start[i]`, and its first `used[i]` bytes are
 * those of tape `tape[i]`'s block `block[i]` from byte `skip[i]`; the rest up to the next segment
 * reads as zeroes.
 */
interface Segments {
  readonly start: Float64Array;
  readonly tape: Uint16Array;
  readonly block: Uint32Array;
  readonly skip: Uint32Array;
  readonly used: Uint32Array;
}

/** One FBA segment while the chain is laid over the full backup. */
interface Piece {
  readonly start: number;
  readonly tape: number;
  readonly block: number;
  readonly skip: number;
  readonly used: number;
}

/** Most tapes in a served chain: each one holds an open file while it is served. */
const MAX_CHAIN_TAPES = 256;

export class TapeVolumeBackend implements NbdExportBackend {
  // Set once.
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly = true;
  readonly canTrim = false;
  /** The last tape of the chain (the instant the export holds). */
  readonly path: string;
  private readonly tapes: readonly BackupTape[];
  private readonly segments: Segments;
  private readonly contexts: readonly MetaContextSource[];
  // Main thread only.
  private cached: { readonly tape: number; readonly blockNumber: number; readonly data: Buffer } | undefined;
  private closed = false;

  private constructor(tapes: readonly BackupTape[], name: string, sizeBytes: number, segments: Segments, slotBytes: number | undefined) {
    this.tapes = tapes;
    this.path = (tapes[tapes.length - 1] as BackupTape).path;
    this.name = name;
    this.sizeBytes = sizeBytes;
    this.segments = segments;
    this.contexts = [
      slotBytes !== undefined
        ? usedPrefixAllocation(slotBytes, (track) => segments.used[track] ?? 0)
        : zeroScanAllocation(sizeBytes, (offsetBytes, length) => this.read(offsetBytes, length)),
    ];
  }

  /**
   * Opens a finished backup tape, or a chain (the full backup first, then its incrementals in
   * order), whose links follow and whose labels match their digest, and indexes where each unit's
   * bytes are. The export is named after the last tape.
   */
  static open(tapePaths: readonly string[], options: { readonly name?: string } = {}): TapeVolumeBackend {
    const last = tapePaths[tapePaths.length - 1];
    if (last === undefined) throw new UsageError('Cannot serve a tape: no tape given');
    if (tapePaths.length > MAX_CHAIN_TAPES) {
      throw new UsageError(`Cannot serve a chain of ${tapePaths.length} tapes: at most ${MAX_CHAIN_TAPES} are served at once (restore the chain instead)`, {
        path: last,
      });
    }
    if (tapePaths.length > 1) requireChainFollows(tapePaths, 'serve');
    const tapes: BackupTape[] = [];
    try {
      for (const path of tapePaths) {
        const tape = openBackupTape(path);
        tapes.push(tape);
        requireLabelsMatch('serve', tape);
      }
      const full = tapes[0] as BackupTape;
      if (tapes.length === 1 && full.chain?.base) {
        throw new UsageError(
          `Cannot serve ${full.path} alone: it is an incremental backup since checkpoint ${full.chain.base.checkpoint} (tape ${full.chain.base.volser}); serve its chain, the full backup first: snaptape serve --tape FULL ${full.path}`,
          { path: full.path },
        );
      }
      requireIncrementalsFit('serve', full, tapes.slice(1));
      const name = options.name ?? exportNameFor(last);
      if (full.source.kind === 'fba') return new TapeVolumeBackend(tapes, name, full.source.size * FBA_BLOCK_BYTES, fbaSegments(tapes), undefined);
      const { segments, slotBytes, trackCount } = ckdSegments(tapes);
      return new TapeVolumeBackend(tapes, name, trackCount * slotBytes, segments, slotBytes);
    } catch (error) {
      for (const tape of tapes) tape.reader.close();
      throw error;
    }
  }

  metaContexts(): readonly MetaContextSource[] {
    return this.contexts;
  }

  read(offsetBytes: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    const end = offsetBytes + length;
    const { start, tape, block, skip, used } = this.segments;
    // Bounded: each turn moves to the next segment, and stops past the range.
    for (let i = this.segmentAt(offsetBytes); i < start.length && (start[i] as number) < end; i++) {
      const from = start[i] as number;
      const dataEnd = from + (used[i] as number);
      const lo = Math.max(from, offsetBytes);
      const hi = Math.min(dataEnd, end);
      const at = (skip[i] as number) - from;
      if (hi > lo) this.blockData(tape[i] as number, block[i] as number).copy(out, lo - offsetBytes, lo + at, hi + at);
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

  /** Closes the tapes. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cached = undefined;
    for (const tape of this.tapes) tape.reader.close();
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

  private blockData(tape: number, blockNumber: number): Buffer {
    if (this.cached?.tape !== tape || this.cached.blockNumber !== blockNumber) {
      this.cached = { tape, blockNumber, data: (this.tapes[tape] as BackupTape).reader.readBlockData(blockNumber) };
    }
    return this.cached.data;
  }
}

function newSegments(count: number): Segments {
  return {
    start: new Float64Array(count),
    tape: new Uint16Array(count),
    block: new Uint32Array(count),
    skip: new Uint32Array(count),
    used: new Uint32Array(count),
  };
}

/** A tape block's data length: from the index when stored plain, else read (a HET block is compressed). */
function blockBytes(tape: BackupTape, blockNumber: number): number {
  const entry = tape.reader.entry(blockNumber);
  return entry.compression === 'none' ? entry.storedBytes : tape.reader.readBlockData(blockNumber).length;
}

/** CKD: one segment per track, from the full backup's volume element, then each incremental's tracks over it. */
function ckdSegments(tapes: readonly BackupTape[]): { segments: Segments; slotBytes: number; trackCount: number } {
  const full = tapes[0] as BackupTape;
  const geometry = parseGeometry(full.source.typeName, { cylinders: full.source.size });
  const element = full.elements.find((e) => e.description.kind === 'volume');
  if (geometry.kind !== 'ckd' || geometry.trackSlotBytes !== full.source.slotBytes) {
    throw new UsageError(`Cannot serve ${full.path} as a volume: its labels record ${full.source.slotBytes}-byte slots for a ${full.source.typeName}`, {
      path: full.path,
    });
  }
  if (element === undefined || element.blockCount !== geometry.trackCount) {
    throw new UsageError(`Cannot serve ${full.path} as a volume: it is not a whole-volume backup (it holds ${describeElements(full)})`, {
      path: full.path,
    });
  }
  const slotBytes = geometry.trackSlotBytes;
  const trackCount = geometry.trackCount;
  const segments = newSegments(trackCount);
  const place = (tapeIndex: number, track: number, blockNumber: number): void => {
    segments.tape[track] = tapeIndex;
    segments.block[track] = blockNumber;
    segments.used[track] = Math.min(slotBytes, blockBytes(tapes[tapeIndex] as BackupTape, blockNumber));
  };
  for (let t = 0; t < trackCount; t++) {
    segments.start[t] = t * slotBytes;
    place(0, t, element.firstBlockNumber + t);
  }
  tapes.forEach((tape, i) => {
    if (i === 0) return;
    for (const e of tape.elements) {
      const first = incrementalRun('serve', tape, e, trackCount);
      if (first + e.blockCount > trackCount) {
        throw new UsageError(`Cannot serve the chain: ${e.name} of ${tape.path} runs past the volume's ${trackCount} tracks`, { path: tape.path });
      }
      for (let j = 0; j < e.blockCount; j++) place(i, first + j, e.firstBlockNumber + j);
    }
  });
  return { segments, slotBytes, trackCount };
}

/** An FBA tape's pieces in volume order: each tape block holds whole 512-byte blocks from where its element starts. */
function fbaPieces(tapes: readonly BackupTape[], tapeIndex: number): Piece[] {
  const tape = tapes[tapeIndex] as BackupTape;
  const volumeBlocks = tape.source.size;
  const pieces: Piece[] = [];
  for (const element of tape.elements) {
    const first = tapeIndex === 0 ? (element.description.firstBlock ?? 0) : incrementalRun('serve', tape, element, volumeBlocks);
    let at = first * FBA_BLOCK_BYTES;
    for (let j = 0; j < element.blockCount; j++) {
      const bytes = blockBytes(tape, element.firstBlockNumber + j);
      pieces.push({ start: at, tape: tapeIndex, block: element.firstBlockNumber + j, skip: 0, used: bytes });
      at += bytes;
    }
    // An incremental's run holds its blocks and no more, as its restore requires (requireFbaBytesMatch).
    const d = element.description;
    const count = d.kind === 'blocks' ? (d.blockCount ?? 0) : volumeBlocks;
    if (tapeIndex > 0 && at - first * FBA_BLOCK_BYTES !== count * FBA_BLOCK_BYTES) {
      throw new TapeFormatError(
        `Cannot serve the chain: ${element.name} of ${tape.path}: its labels record ${count} blocks (${count * FBA_BLOCK_BYTES} bytes), its tape blocks hold ${at - first * FBA_BLOCK_BYTES} bytes`,
        { path: tape.path },
      );
    }
  }
  return pieces.sort((a, b) => a.start - b.start);
}

/** Whether the pieces follow each other in whole blocks from `from` to `to`, each once. */
function tiles(pieces: readonly Piece[], from: number, to: number): boolean {
  let covered = from;
  for (const piece of pieces) {
    if (piece.start !== covered || piece.used % FBA_BLOCK_BYTES !== 0) return false;
    covered += piece.used;
  }
  return covered === to;
}

/** The part of a piece from byte `from` to byte `to` of the volume (inside it). */
function slicePiece(piece: Piece, from: number, to: number): Piece {
  return { start: from, tape: piece.tape, block: piece.block, skip: piece.skip + (from - piece.start), used: to - from };
}

/** `base` with `top` laid over it: both in volume order, each without overlaps; `top` wins where both hold bytes. */
function overlay(base: readonly Piece[], top: readonly Piece[]): Piece[] {
  const out: Piece[] = [];
  let k = 0;
  for (const piece of base) {
    let from = piece.start;
    const end = piece.start + piece.used;
    // Bounded: k only moves forward over top, and j stops at the first top piece past this one.
    while (k < top.length && (top[k] as Piece).start + (top[k] as Piece).used <= from) k++;
    for (let j = k; j < top.length && (top[j] as Piece).start < end; j++) {
      const over = top[j] as Piece;
      if (over.start > from) out.push(slicePiece(piece, from, over.start));
      from = Math.max(from, over.start + over.used);
    }
    if (from < end) out.push(slicePiece(piece, from, end));
  }
  return [...out, ...top].sort((a, b) => a.start - b.start);
}

/** FBA: the full backup's blocks must cover the volume once; each incremental's blocks are laid over them. */
function fbaSegments(tapes: readonly BackupTape[]): Segments {
  const full = tapes[0] as BackupTape;
  const volumeBytes = full.source.size * FBA_BLOCK_BYTES;
  let pieces = fbaPieces(tapes, 0);
  if (!tiles(pieces, 0, volumeBytes)) {
    throw new UsageError(
      `Cannot serve ${full.path} as a volume: its blocks do not cover the ${full.source.size}-block volume once (it holds ${describeElements(full)})`,
      { path: full.path },
    );
  }
  for (let i = 1; i < tapes.length; i++) {
    const top = fbaPieces(tapes, i);
    const spans = top.every(
      (p, j) =>
        p.used % FBA_BLOCK_BYTES === 0 && p.start + p.used <= volumeBytes && (j === 0 || p.start >= (top[j - 1] as Piece).start + (top[j - 1] as Piece).used),
    );
    if (!spans) {
      throw new UsageError(`Cannot serve the chain: the blocks of ${(tapes[i] as BackupTape).path} overlap or run past the ${full.source.size}-block volume`, {
        path: (tapes[i] as BackupTape).path,
      });
    }
    pieces = overlay(pieces, top);
  }
  const segments = newSegments(pieces.length);
  pieces.forEach((piece, i) => {
    segments.start[i] = piece.start;
    segments.tape[i] = piece.tape;
    segments.block[i] = piece.block;
    segments.skip[i] = piece.skip;
    segments.used[i] = piece.used;
  });
  return segments;
}

/** The export of a tape, or of a chain: a full backup, then its incrementals in order. */
export function openTapeExport(tapePaths: readonly string[]): TapeVolumeBackend {
  return TapeVolumeBackend.open(tapePaths);
}
