/**
 * The two ends of a unit copy, as the engine sees them: a source that reads copy units and a sink
 * that writes them. The file ports read and write by offset on their own descriptors (a worker
 * thread, or the owning thread for a file target); the function ports wrap a backend or another
 * writer the owning thread holds (a compressed image, a mirror's secondary or link, a new image).
 */
import { closeSync, openSync } from 'node:fs';
import { readFully, requireSameFile, writeFully, writevFully, type FileIdentity } from '../base/file-io.js';
import { pageSpans, type FlatSpan } from '../base/page-spans.js';
import { translateIoError } from '../errors/io-error.js';
import type { FileUnitLocation } from '../image/image-backend.js';
import type { CopyTarget, SourceMap } from './copy-plan.js';

export interface UnitSource {
  /** The bytes of each of `units` (ascending copy units); a buffer stays valid until the next read. */
  read(units: readonly number[]): Buffer[];
  /**
   * Where the source knows it without reading (a CKD volume's size table V): how many of a unit's
   * first bytes may be non-zero; every byte past them is zero. Asked right after the unit's read.
   */
  usedBytes?(unit: number): number;
  close?(): void;
}

/**
 * One unit's write: `data` goes to the place of `targetUnit`; every non-zero byte of the source's
 * unit lies in its first `usedBytes` (all of `data` where the source cannot tell).
 */
export interface UnitWrite {
  /** The copy unit (its state, marks and extent). */
  readonly unit: number;
  /** A slot target's unit it goes to: `unit`, or where a relocation sends it (copy-plan.ts). */
  readonly targetUnit: number;
  readonly data: Buffer;
  readonly usedBytes: number;
}

export interface UnitSink {
  /**
   * Writes units (ascending). A synchronous sink returns only when they are written (or throws).
   * An asynchronous one (a mirror's remote link, which keeps several batches in flight) has taken
   * its own copy of every `data` when it returns (the source reuses its buffers on its next read),
   * and returns a promise that settles when the target has acknowledged the units.
   */
  write(writes: readonly UnitWrite[]): void | Promise<void>;
  /**
   * An asynchronous sink: a promise that resolves once it can take another write without waiting
   * (it has room in flight), or undefined when it can at once. The background loop waits on it
   * before it claims its next batch.
   */
  ready?(): Promise<void> | undefined;
  /** Releases what the sink holds once the copy writes no more; a promise the copy waits for. */
  close?(): void | Promise<void>;
}

/** A run is read in one call when its units use at least this share of the span between them. */
const DENSE_READ_SHARE = 0.25;

/**
 * Whether a run whose units use `usedBytes` of `spanBytes` is dense: then it moves as one piece
 * (one read, one write, one NBD WRITE), the unused bytes with it; a sparse run moves unit by unit,
 * each unit's used bytes only.
 */
export function isDenseRun(usedBytes: number, spanBytes: number): boolean {
  return usedBytes >= spanBytes * DENSE_READ_SHARE;
}

function openFile(path: string, flags: 'r' | 'r+', what: string): number {
  try {
    return openSync(path, flags);
  } catch (error) {
    throw translateIoError(error, `open ${what}`, path);
  }
}

/** Reads copy units from a file at fixed offsets; consecutive units are read in one call when dense. */
export class FileUnitSource implements UnitSource {
  // Set once.
  private readonly fd: number;
  private readonly location: FileUnitLocation;
  private readonly map: SourceMap;
  // This thread only.
  /**
   * Reused for every read (the port's contract: a buffer stays valid until the next read). A fresh
   * buffer per batch kept landing on new memory: measured, 2.4× the page faults of a reused one and
   * preads up to 2× slower on a cached source, which host writes felt in their p99.
   */
  private scratch = Buffer.alloc(0);
  private scratchUsed = 0;

  constructor(location: FileUnitLocation, map: SourceMap) {
    this.location = location;
    this.map = map;
    this.fd = openFile(location.path, 'r', 'the source');
  }

  private offset(unit: number): number {
    const first = this.map.firstSourceUnit ? (this.map.firstSourceUnit[unit] as number) : unit;
    return this.location.dataOffsetBytes + first * this.location.slotBytes;
  }

  private length(unit: number): number {
    return this.map.lengths ? (this.map.lengths[unit] as number) : this.location.slotBytes;
  }

  /** `bytes` of the scratch buffer for this read; a bigger one replaces it when it is too small. */
  private take(bytes: number): Buffer {
    if (this.scratchUsed + bytes > this.scratch.length) {
      // Buffers handed out earlier in this read keep the old one alive until they are dropped.
      this.scratch = Buffer.allocUnsafe(Math.max(bytes, this.scratch.length * 2, 1 << 20));
      this.scratchUsed = 0;
    }
    const slice = this.scratch.subarray(this.scratchUsed, this.scratchUsed + bytes);
    this.scratchUsed += bytes;
    return slice;
  }

  read(units: readonly number[]): Buffer[] {
    this.scratchUsed = 0;
    const out: Buffer[] = [];
    for (let k = 0; k < units.length;) {
      // A run: consecutive copy units whose source bytes come in ascending order.
      let last = k;
      while (
        last + 1 < units.length &&
        units[last + 1] === (units[last] as number) + 1 &&
        this.offset(units[last + 1] as number) >= this.offset(units[last] as number) + this.length(units[last] as number)
      )
        last++;
      const start = this.offset(units[k] as number);
      const end = this.offset(units[last] as number) + this.length(units[last] as number);
      let used = 0;
      for (let i = k; i <= last; i++) used += this.length(units[i] as number);
      if (last > k && isDenseRun(used, end - start)) {
        const span = this.take(end - start);
        readFully(this.fd, span, start, this.location.path);
        for (let i = k; i <= last; i++) {
          const at = this.offset(units[i] as number) - start;
          out.push(span.subarray(at, at + this.length(units[i] as number)));
        }
      } else {
        for (let i = k; i <= last; i++) {
          const payload = this.take(this.length(units[i] as number));
          readFully(this.fd, payload, this.offset(units[i] as number), this.location.path);
          out.push(payload);
        }
      }
      k = last + 1;
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Reads each copy unit through a function (a backend on the owning thread). */
export class FunctionUnitSource implements UnitSource {
  private readonly readOne: (unit: number) => Buffer;

  constructor(readOne: (unit: number) => Buffer) {
    this.readOne = readOne;
  }

  read(units: readonly number[]): Buffer[] {
    return units.map((u) => this.readOne(u));
  }
}

/**
 * Reads copy units that are whole slots of a backend the owning thread holds, each run of
 * consecutive units in one call (`readRun`, a backend's `readUnitsInto`): a batch of a cylinder, or of
 * 1 MiB of FBA blocks, is one read, not one per unit. The buffers of one run are views of one
 * buffer, laid end to end, so that a sink can write the run in one call too (`spanOf`).
 */
export class RunUnitSource implements UnitSource {
  private readonly readRun: (firstUnit: number, into: Buffer) => void;
  private readonly slotBytes: number;
  /** The source's size table, where given (UnitSource.usedBytes). */
  readonly usedBytes: ((unit: number) => number) | undefined;
  /**
   * Reused for every read (the port's contract: a buffer stays valid until the next read): a fresh
   * buffer of a cylinder per batch lands on new memory, and measured it tripled the time of the
   * reads (page faults) against reading one slot at a time.
   */
  private scratch = Buffer.alloc(0);
  private readonly landing: ((bytes: number) => Buffer | undefined) | undefined;

  /**
   * `readRun` fills `into` with the whole slots of consecutive units from `firstUnit` (or, where
   * `usedBytes` is given, the first bytes of one unit's slot: as many as `into` holds). `landing`,
   * when given, offers the buffer where the sink will send a read of `bytes` from (a mirror link's
   * next channel slot): the read lands there, so the sink finds the bytes in place and copies
   * nothing; when it offers none (no room), the read goes to the source's own buffer. `usedBytes`,
   * when given, is the source's size table (UnitSource.usedBytes).
   */
  constructor(
    readRun: (firstUnit: number, into: Buffer) => void,
    slotBytes: number,
    options: { readonly landing?: (bytes: number) => Buffer | undefined; readonly usedBytes?: (unit: number) => number } = {},
  ) {
    this.readRun = readRun;
    this.slotBytes = slotBytes;
    this.landing = options.landing;
    const used = options.usedBytes;
    this.usedBytes = used === undefined ? undefined : (unit) => Math.min(slotBytes, used(unit));
  }

  /** Where a read of `bytes` lands: the sink's offer, else the reused scratch buffer. */
  private bufferFor(bytes: number): Buffer {
    const offered = this.landing?.(bytes);
    if (offered !== undefined && offered.length >= bytes) return offered;
    if (this.scratch.length < bytes) this.scratch = Buffer.allocUnsafe(bytes);
    return this.scratch;
  }

  read(units: readonly number[]): Buffer[] {
    const into = this.bufferFor(units.length * this.slotBytes);
    const out: Buffer[] = [];
    let at = 0;
    for (let k = 0; k < units.length;) {
      let last = k;
      while (last + 1 < units.length && units[last + 1] === (units[last] as number) + 1) last++;
      const run = into.subarray(at, at + (last - k + 1) * this.slotBytes);
      this.readOneRun(units.slice(k, last + 1), run);
      for (let i = 0; i <= last - k; i++) out.push(run.subarray(i * this.slotBytes, (i + 1) * this.slotBytes));
      at += run.length;
      k = last + 1;
    }
    return out;
  }

  /**
   * Fills `run` with the whole slots of `units` (consecutive): one read, unless the source knows
   * the used bytes and they are sparse (isDenseRun); then each unit's used
   * bytes are read and the rest of its slot, zero by the size table's promise, is zero-filled, so no
   * hole of the image is read (each would cost a page of the page cache).
   */
  private readOneRun(units: readonly number[], run: Buffer): void {
    const used = this.usedBytes;
    const slot = this.slotBytes;
    const lengths = used ? units.map(used) : undefined;
    if (
      lengths === undefined ||
      isDenseRun(
        lengths.reduce((sum, n) => sum + n, 0),
        run.length,
      )
    ) {
      this.readRun(units[0] as number, run);
      return;
    }
    lengths.forEach((bytes, i) => {
      if (bytes > 0) this.readRun(units[i] as number, run.subarray(i * slot, i * slot + bytes));
      run.fill(0, i * slot + bytes, (i + 1) * slot);
    });
  }
}

/** What a sink knows of its target's slots: enough to write only the bytes that may differ. */
export interface TargetSlots {
  /** How many of the target slot's first bytes may be non-zero (the target's size table V). */
  extentOf(unit: number): number;
  /** Byte offset of unit 0 in the target's file: what is written is widened to whole pages of it. */
  readonly dataOffsetBytes: number;
}

/** A write of the flat view (unit 0's slot at 0): `data` at `offsetBytes`. */
export interface FlatWrite {
  readonly offsetBytes: number;
  readonly data: Buffer;
}

/**
 * The writes that put `writes` (ascending units) in place. Consecutive whole slots go as one run
 * (a view when the payloads already lie end to end in memory, as a RunUnitSource's do; else one
 * copy); a write that is not a whole slot is a run of its own. With `target`, a run is cut down to
 * the bytes that may differ: of each unit, its first max(usedBytes, the target's extent) bytes
 * (past them the source and the target slot hold only zeros), widened to whole pages of the
 * target's file, neighbours merged. So a sparse source keeps a sparse target sparse, and a run of
 * full slots is still one write.
 */
export function slotRuns(writes: readonly UnitWrite[], slotBytes: number, target?: TargetSlots): FlatWrite[] {
  const runs: FlatWrite[] = [];
  for (let k = 0; k < writes.length;) {
    let last = k;
    const whole = (w: UnitWrite): boolean => w.data.length === slotBytes;
    if (whole(writes[k] as UnitWrite))
      while (last + 1 < writes.length && writes[last + 1]?.unit === (writes[last] as UnitWrite).unit + 1 && whole(writes[last + 1] as UnitWrite)) last++;
    const run = writes.slice(k, last + 1);
    const data = spanOf(run.map((w) => w.data));
    const offsetBytes = (writes[k] as UnitWrite).unit * slotBytes;
    if (target === undefined || !whole(writes[k] as UnitWrite)) runs.push({ offsetBytes, data });
    else runs.push(...changedSpans(run, data, offsetBytes, slotBytes, target));
    k = last + 1;
  }
  return runs;
}

/** The spans of one run of whole slots (`data`, at flat `offsetBytes`) that may differ from the target. */
function changedSpans(run: readonly UnitWrite[], data: Buffer, offsetBytes: number, slotBytes: number, target: TargetSlots): FlatWrite[] {
  const pieces: FlatSpan[] = [];
  run.forEach((w, i) => {
    const bytes = Math.min(slotBytes, Math.max(w.usedBytes, target.extentOf(w.unit)));
    if (bytes > 0) pieces.push({ start: i * slotBytes, end: i * slotBytes + bytes });
  });
  return pageSpans(pieces, target.dataOffsetBytes + offsetBytes, 0, data.length).map((s) => ({
    offsetBytes: offsetBytes + s.start,
    data: data.subarray(s.start, s.end),
  }));
}

/** `parts` as one buffer: a view over them when each starts where the one before ends, else a copy. */
export function spanOf(parts: readonly Buffer[]): Buffer {
  const first = parts[0] as Buffer;
  if (parts.length === 1) return first;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i] as Buffer;
    if (p.buffer !== first.buffer || p.byteOffset !== end) return Buffer.concat(parts);
    end += p.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

/** Writes to one file: a placed target (prefix + bytes at each unit's offset) or a slot target. */
export class FileUnitSink implements UnitSink {
  // Set once.
  private readonly fd: number;
  private readonly path: string;
  private readonly target: CopyTarget;
  private readonly slots: FileUnitLocation | undefined;

  /** `identity`: the file the path must still name (a tape its session made): else refused, unwritten (file-io.ts requireSameFile). */
  constructor(path: string, target: CopyTarget, slots?: FileUnitLocation, identity?: FileIdentity) {
    this.path = path;
    this.target = target;
    this.slots = slots;
    this.fd = openFile(path, 'r+', 'the target');
    if (identity === undefined) return;
    try {
      requireSameFile(this.fd, identity, path, 'the target', 'the copy was started for');
    } catch (error) {
      closeSync(this.fd);
      throw error;
    }
  }

  write(writes: readonly UnitWrite[]): void {
    const target = this.target;
    if (target.kind === 'slot') {
      const slots = this.slots as FileUnitLocation;
      for (const w of writes) writeFully(this.fd, w.data, slots.dataOffsetBytes + w.targetUnit * slots.slotBytes, this.path);
      return;
    }
    const { offsets, prefixes, prefixBytes } = target;
    for (let k = 0; k < writes.length;) {
      // A run: units whose prefixed bytes abut on the target, written with one writev.
      const buffers: Uint8Array[] = [];
      const first = writes[k] as UnitWrite;
      let end = offsets[first.unit] as number;
      let i = k;
      for (; i < writes.length; i++) {
        const w = writes[i] as UnitWrite;
        if ((offsets[w.unit] as number) !== end) break;
        buffers.push(prefixes.subarray(w.unit * prefixBytes, (w.unit + 1) * prefixBytes), w.data);
        end += prefixBytes + w.data.length;
      }
      writevFully(this.fd, buffers, offsets[first.unit] as number, this.path);
      k = i;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Writes units through a function (a backend, a mirror's secondary or link) on the owning thread;
 * with `ready`, an asynchronous sink (UnitSink.ready).
 */
export class FunctionUnitSink implements UnitSink {
  private readonly writeAll: (writes: readonly UnitWrite[]) => void | Promise<void>;
  private readonly whenReady: (() => Promise<void> | undefined) | undefined;
  private readonly onClose: (() => void | Promise<void>) | undefined;

  /** `closed`, if given, releases what `writeAll` holds (it runs once the copy no longer writes). */
  constructor(writeAll: (writes: readonly UnitWrite[]) => void | Promise<void>, ready?: () => Promise<void> | undefined, closed?: () => void | Promise<void>) {
    this.writeAll = writeAll;
    this.whenReady = ready;
    this.onClose = closed;
  }

  write(writes: readonly UnitWrite[]): void | Promise<void> {
    return this.writeAll(writes);
  }

  ready(): Promise<void> | undefined {
    return this.whenReady?.();
  }

  close(): void | Promise<void> {
    return this.onClose?.();
  }
}
