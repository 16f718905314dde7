/**
 * `Volume`: the only path for reading and writing a volume. It joins a geometry, a storage backend
 * and the interceptor chain. Every write (format write, update write, whole-track write, FBA block
 * write, raw slot write from NBD) goes through `InterceptorChain.around`, with the units it touches.
 *
 * Invariants (CKD):
 * - `usedBytes[t]` is the length of track t's image (HA through EOT) as stored, the size table V of
 *   ARCHITECTURE.md; a track that does not decode is counted as its whole slot;
 * - the bytes of a slot past its used length are zero in every track this class writes: a shorter
 *   image is written with a zero tail over the old one, so copies of the used prefix are exact;
 * - every read of units runs the chain's `beforeRead` first: the Volume's own reads call it before
 *   they look at the size table, and `backend` is the image backend behind a ReadHookedBackend, so
 *   reads that bypass these methods run it too (a clone destination fetches tracks on demand).
 */
import { assert } from '../base/assert.js';
import { gatherBytes, scatteredLength, scatteredPieces, sliceScattered, type ScatteredBytes } from '../base/scattered-bytes.js';
import { pageSpans, type FlatSpan } from '../base/page-spans.js';
import { AddressRangeError, ImageFormatError, IoError, RecordNotFoundError, TrackOverflowError, UsageError } from '../errors/snaptape-error.js';
import { decodeTrack, emptyTrack, encodeTrack, encodedTrackBytes, numberRecords, trackUsedBytes, type CkdRecord, type CkdTrack } from '../ckd/track-codec.js';
import { cchhOf, checkCchh, checkTrackIndex, formatCchhr, trackIndexOf, type Cchh, type Cchhr } from '../geometry/cchh.js';
import { recordsFit, cellsUsed } from '../geometry/track-capacity.js';
import { unitCount, type CkdGeometry, type VolumeGeometry } from '../geometry/volume-geometry.js';
import type { ImageBackend } from '../image/image-backend.js';
import { InterceptorChain, type WriteEvent, type WriteInterceptor, type WriteKind } from './write-interceptor.js';
import { TrackSizeTable, nonZeroExtent } from './track-size-table.js';
import { ReadHookedBackend } from './read-hooked-backend.js';
import { readTrackSizes, saveTrackSizes } from './track-size-store.js';

/**
 * How far a slot may hold non-zero bytes after `chunk` was written at `inSlot`, when before the
 * write nothing past `before` was non-zero: the old bytes the write left (in front of it, or past
 * its end), and the written ones up to their last non-zero byte.
 */
function nonZeroAfterWrite(before: number, inSlot: number, chunk: ScatteredBytes): number {
  const kept = keptAfterWrite(before, inSlot, inSlot + scatteredLength(chunk));
  const written = scatteredNonZeroExtent(chunk);
  return Math.max(kept, written > 0 ? inSlot + written : 0);
}

/** How far a slot may hold non-zero bytes of the old ones (`before`) once [inSlot, end) is written. */
function keptAfterWrite(before: number, inSlot: number, end: number): number {
  return before > end ? before : Math.min(before, inSlot);
}

/** `nonZeroExtent` of bytes in one buffer or several: from the last piece back, the first with a non-zero byte. */
function scatteredNonZeroExtent(bytes: ScatteredBytes): number {
  if (Buffer.isBuffer(bytes)) return nonZeroExtent(bytes);
  const pieces = scatteredPieces(bytes);
  let end = scatteredLength(bytes);
  // Bounded by the number of pieces.
  for (let i = pieces.length - 1; i >= 0; i--) {
    const piece = pieces[i] as Buffer;
    end -= piece.length;
    const extent = nonZeroExtent(piece);
    if (extent > 0) return end + extent;
  }
  return 0;
}

export interface NewRecord {
  readonly key: Buffer;
  readonly data: Buffer;
}

export class Volume {
  // Set once.
  readonly backend: ImageBackend;
  readonly geometry: VolumeGeometry;
  readonly path: string;
  // Main thread only.
  private readonly chain = new InterceptorChain();
  private sizes: TrackSizeTable | undefined;
  private sizeOrigin = 'kept in memory';
  private closed = false;
  /** Deferred writes (`writeFlatDeferred`) whose bytes have not landed yet. */
  private readonly landing = new Set<Promise<void>>();
  /** CKD units under deferred writes in flight (how many cover each), and those another write touched meanwhile. */
  private readonly unitsLanding = new Map<number, number>();
  private readonly touchedWhileLanding = new Set<number>();
  /** Holds on deferred writes (`holdDeferredWrites`): while any is set, every write runs synchronously. */
  private deferHolds = 0;

  /** `sizes`: a size table already known (a freshly created image), to skip the first scan. */
  constructor(backend: ImageBackend, sizes?: TrackSizeTable) {
    // Reads through `backend` run the chain's read hooks; `imageBackend` is the store itself.
    this.backend = new ReadHookedBackend(backend, this.chain);
    this.geometry = backend.geometry;
    this.path = backend.path;
    this.sizes = sizes;
  }

  get readOnly(): boolean {
    return this.backend.readOnly;
  }

  /** The image backend without the read hooks (its concrete class; writes that must not be seen). */
  get imageBackend(): ImageBackend {
    return (this.backend as ReadHookedBackend).inner;
  }

  /** Tracks (CKD) or blocks (FBA). */
  get unitCount(): number {
    return unitCount(this.geometry);
  }

  get ckd(): CkdGeometry {
    if (this.geometry.kind !== 'ckd') throw new UsageError(`Cannot use ${this.path} as a CKD volume: it is an FBA volume`, { path: this.path });
    return this.geometry;
  }

  addInterceptor(interceptor: WriteInterceptor): void {
    this.chain.add(interceptor);
  }

  removeInterceptor(interceptor: WriteInterceptor): void {
    this.chain.remove(interceptor);
  }

  interceptorNames(): string[] {
    return this.chain.names();
  }

  private checkWritable(): void {
    assert(!this.closed, `${this.path} is open`);
    if (this.backend.readOnly) throw new UsageError(`Cannot write ${this.path}: it is open read-only`, { path: this.path });
  }

  private write<T>(kind: WriteKind, firstUnit: number, count: number, body: () => T): T {
    this.checkWritable();
    if (this.unitsLanding.size > 0) {
      for (let u = firstUnit; u < firstUnit + count; u++) if (this.unitsLanding.has(u)) this.touchedWhileLanding.add(u);
    }
    const event: WriteEvent = { kind, firstUnit, unitCount: count };
    return this.chain.around(event, body);
  }

  // ---- CKD reads -------------------------------------------------------------------------------

  /**
   * The size table V: used bytes of every track, from the store beside the image when its stamp
   * matches, else built by one scan on first use (`sizeTableOrigin` says which, and why).
   */
  trackSizes(): TrackSizeTable {
    if (!this.sizes) {
      const stored = readTrackSizes(this.path, this.ckd.trackCount, this.backend.slotBytes);
      if ('table' in stored) {
        this.sizes = new TrackSizeTable(stored.table);
        this.sizeOrigin = 'stored';
      } else {
        this.sizes = TrackSizeTable.scan(this.backend, this.ckd);
        this.sizeOrigin = `rebuilt by a scan: ${stored.reason}`;
      }
    }
    return this.sizes;
  }

  /** Where the size table came from: 'stored', 'rebuilt by a scan: <reason>', or 'kept in memory'. */
  get sizeTableOrigin(): string {
    return this.sizeOrigin;
  }

  /**
   * Replaces the size table after the tracks changed beneath this Volume (a snapshot's pointer
   * copy onto a volume a server holds open): `sizes` must cover every byte that may be non-zero.
   */
  replaceTrackSizes(sizes: TrackSizeTable): void {
    assert(sizes.raw.length === this.ckd.trackCount, 'a size table has one entry per track');
    this.sizes = sizes;
  }

  /** Track t's image as stored: its used bytes (HA through EOT). */
  readTrackImage(trackIndex: number): Buffer {
    checkTrackIndex(this.ckd, trackIndex, this.path);
    // The hook first: a fetch on demand changes the track's used size.
    this.chain.beforeRead({ firstUnit: trackIndex, unitCount: 1 });
    return this.backend.readUnit(trackIndex, this.trackSizes().get(trackIndex));
  }

  readTrack(trackIndex: number): CkdTrack {
    const geometry = this.ckd;
    checkTrackIndex(geometry, trackIndex, this.path);
    const slot = this.backend.readUnit(trackIndex, this.backend.slotBytes);
    return decodeTrack(slot, cchhOf(geometry, trackIndex), { path: this.path, trackIndex });
  }

  /** The track, or an empty one when its slot does not decode. */
  private readTrackOrEmpty(trackIndex: number): CkdTrack {
    try {
      return this.readTrack(trackIndex);
    } catch (error) {
      if (error instanceof ImageFormatError) return emptyTrack(cchhOf(this.ckd, trackIndex));
      throw error;
    }
  }

  readTrackAt(address: Cchh): CkdTrack {
    checkCchh(this.ckd, address, this.path);
    return this.readTrack(trackIndexOf(this.ckd, address));
  }

  /** Reads one record by CCHHR (search by record number on the track). */
  readRecord(address: Cchhr): CkdRecord {
    const track = this.readTrackAt(address);
    const found = track.records.find((r) => r.record === address.record);
    if (!found) {
      throw new RecordNotFoundError(`Cannot read ${formatCchhr(address)} on ${this.path}: the track has no record ${address.record}`, {
        path: this.path,
        cylinder: address.cylinder,
        head: address.head,
        record: address.record,
      });
    }
    return found;
  }

  // ---- CKD writes ------------------------------------------------------------------------------

  private checkFits(trackIndex: number, records: readonly CkdRecord[]): void {
    const geometry = this.ckd;
    const bytes = encodedTrackBytes(records);
    const shapes = records.map((r) => ({ keyLength: r.key.length, dataLength: r.data.length }));
    if (!recordsFit(geometry.family, shapes) || bytes > this.backend.slotBytes) {
      const cells = cellsUsed(geometry.family, shapes);
      throw new TrackOverflowError(
        `Cannot write track ${trackIndex} of ${this.path}: ${records.length} records need ${cells} cells of ${geometry.family.capacity.cellsPerTrack} (${bytes} bytes of a ${this.backend.slotBytes}-byte slot)`,
        { path: this.path, track: trackIndex, cells, bytes },
      );
    }
  }

  /**
   * Stores a full track image with a zero tail over the old one. Callers have run the chain.
   *
   * A track is never left torn (issue 18.5): a write that fails part-way (ENOSPC in a sparse slot,
   * EIO) may have written any prefix of `padded`, leaving no end-of-track marker. The old used
   * prefix is read first (no read hook: it is this volume's own bytes) and, on failure, written back
   * over the same bytes. Those bytes held the old track, so they are allocated and the write-back
   * needs no new blocks: it succeeds on a full file system. The torn bytes past the old image are
   * then zeroed if the file system allows; if not, V is widened over them (V covers every byte that
   * may be non-zero, as after a raw write), so the slot still decodes as the old track.
   */
  private storeTrackImage(trackIndex: number, image: Buffer): void {
    const sizes = this.trackSizes();
    const oldBytes = sizes.get(trackIndex);
    const padded = image.length >= oldBytes ? image : Buffer.concat([image, Buffer.alloc(oldBytes - image.length)]);
    const old = this.imageBackend.readUnit(trackIndex, oldBytes);
    try {
      this.backend.writeUnit(trackIndex, padded);
    } catch (error) {
      this.putBackTrack(trackIndex, old, padded.length, error);
      throw error;
    }
    sizes.set(trackIndex, image.length);
  }

  /** Writes back a track's old image after a failed write of `writtenBytes` (storeTrackImage). */
  private putBackTrack(trackIndex: number, old: Buffer, writtenBytes: number, cause: unknown): void {
    const sizes = this.trackSizes();
    // A store that failed before changing a byte (a compressed image keeps the old track until the
    // new one is stored whole) needs nothing, and its write-back might itself need new space.
    if (this.slotStillHolds(trackIndex, old, writtenBytes)) return;
    try {
      this.imageBackend.writeUnit(trackIndex, old);
    } catch (error) {
      sizes.set(trackIndex, this.backend.slotBytes);
      throw new IoError(
        `Cannot write track ${trackIndex} of ${this.path}: the write failed (${cause instanceof Error ? cause.message : String(cause)}) and the old track could not be written back (${error instanceof Error ? error.message : String(error)}); the track may be torn`,
        { path: this.path, track: trackIndex },
      );
    }
    if (writtenBytes <= old.length) return;
    try {
      this.imageBackend.writeUnit(trackIndex, Buffer.alloc(writtenBytes - old.length), old.length);
    } catch {
      sizes.set(trackIndex, writtenBytes);
    }
  }

  /**
   * Format write: keeps R0..R(afterRecord), writes `records` as the records that follow, and erases
   * the rest of the track (on a CKD device, writing a record erases the rest of the track).
   */
  formatWrite(address: Cchh, afterRecord: number, records: readonly NewRecord[]): void {
    const geometry = this.ckd;
    checkCchh(geometry, address, this.path);
    const trackIndex = trackIndexOf(geometry, address);
    // A format write from R0 erases the whole track, so it does not need the old track to decode
    // (a raw write may have left garbage there); one after Rn must find Rn.
    const old = afterRecord === 0 ? this.readTrackOrEmpty(trackIndex) : this.readTrack(trackIndex);
    const kept = old.records.filter((r) => r.record <= afterRecord);
    if (afterRecord > 0 && !old.records.some((r) => r.record === afterRecord)) {
      throw new RecordNotFoundError(`Cannot format-write after ${formatCchhr({ ...address, record: afterRecord })} on ${this.path}: no such record`, {
        path: this.path,
        cylinder: address.cylinder,
        head: address.head,
        record: afterRecord,
      });
    }
    const next = [...kept, ...numberRecords(address, records, afterRecord + 1)];
    this.checkFits(trackIndex, next);
    const image = encodeTrack({ cchh: address, r0Data: old.r0Data, records: next });
    this.write('format', trackIndex, 1, () => this.storeTrackImage(trackIndex, image));
  }

  /** Writes a whole track of records R1..Rn (a format write after R0). */
  writeTrackRecords(trackIndex: number, records: readonly NewRecord[]): void {
    checkTrackIndex(this.ckd, trackIndex, this.path);
    this.formatWrite(cchhOf(this.ckd, trackIndex), 0, records);
  }

  /** Update write: replaces one record's data (and key, if given) in place; lengths stay the same. */
  updateRecord(address: Cchhr, data: Buffer, key?: Buffer): void {
    const geometry = this.ckd;
    const track = this.readTrackAt(address);
    const at = track.records.findIndex((r) => r.record === address.record);
    const old = track.records[at];
    if (!old) {
      throw new RecordNotFoundError(`Cannot update ${formatCchhr(address)} on ${this.path}: the track has no record ${address.record}`, {
        path: this.path,
        cylinder: address.cylinder,
        head: address.head,
        record: address.record,
      });
    }
    if (old.data.length !== data.length || (key !== undefined && key.length !== old.key.length)) {
      throw new UsageError(
        `Cannot update ${formatCchhr(address)} on ${this.path}: new key/data are ${key?.length ?? old.key.length}/${data.length} bytes, the record holds ${old.key.length}/${old.data.length}`,
        { path: this.path },
      );
    }
    const records = track.records.slice();
    records[at] = { ...old, data, key: key ?? old.key };
    const trackIndex = trackIndexOf(geometry, address);
    const image = encodeTrack({ ...track, records });
    this.write('update', trackIndex, 1, () => this.storeTrackImage(trackIndex, image));
  }

  /**
   * Writes track images as they are (a restore, a copy): each must decode as a track with its own
   * home address. The chain sees the whole run as one write.
   */
  writeTrackImages(firstTrack: number, images: readonly Buffer[]): void {
    const geometry = this.ckd;
    const count = images.length;
    if (count === 0) return;
    checkTrackIndex(geometry, firstTrack, this.path);
    checkTrackIndex(geometry, firstTrack + count - 1, this.path);
    images.forEach((image, i) => {
      const t = firstTrack + i;
      if (image.length > this.backend.slotBytes) {
        throw new TrackOverflowError(
          `Cannot write track ${t} of ${this.path}: image of ${image.length} bytes exceeds the ${this.backend.slotBytes}-byte slot`,
          { path: this.path, track: t },
        );
      }
      trackUsedBytes(image, cchhOf(geometry, t), { path: `image for ${this.path}`, trackIndex: t });
    });
    this.write('track', firstTrack, count, () => images.forEach((image, i) => this.storeTrackImage(firstTrack + i, image)));
  }

  /** True when the slot's first `lengthBytes` bytes are still `old` followed by zeros. */
  private slotStillHolds(trackIndex: number, old: Buffer, lengthBytes: number): boolean {
    try {
      const now = this.imageBackend.readUnit(trackIndex, Math.max(lengthBytes, old.length));
      return now.subarray(0, old.length).equals(old) && now.subarray(old.length).every((b) => b === 0);
    } catch {
      return false;
    }
  }

  // ---- FBA -------------------------------------------------------------------------------------

  private checkBlocks(firstBlock: number, count: number): void {
    if (this.geometry.kind !== 'fba') throw new UsageError(`Cannot use ${this.path} as an FBA volume: it is a CKD volume`, { path: this.path });
    if (!Number.isInteger(firstBlock) || firstBlock < 0 || count < 1 || firstBlock + count > this.geometry.blockCount) {
      throw new AddressRangeError(
        `Cannot address blocks ${firstBlock}-${firstBlock + count - 1} on ${this.path}: the volume has blocks 0-${this.geometry.blockCount - 1}`,
        { path: this.path, block: firstBlock },
      );
    }
  }

  readBlocks(firstBlock: number, count: number): Buffer {
    this.checkBlocks(firstBlock, count);
    return this.backend.readUnits(firstBlock, count);
  }

  writeBlocks(firstBlock: number, data: Buffer): void {
    assert(data.length > 0 && data.length % this.backend.slotBytes === 0, 'FBA writes are whole blocks');
    const count = data.length / this.backend.slotBytes;
    this.checkBlocks(firstBlock, count);
    // A run of blocks is one backend call (one system call where the image is one file).
    this.write('blocks', firstBlock, count, () => (this.backend as ReadHookedBackend).writeUnits(firstBlock, data, 0));
  }

  // ---- flat view (NBD) -------------------------------------------------------------------------

  /** Size of the flat view: unit slots laid end to end (track t at t × slot size). */
  get flatSizeBytes(): number {
    return this.unitCount * this.backend.slotBytes;
  }

  private checkFlat(offsetBytes: number, lengthBytes: number): void {
    if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > this.flatSizeBytes) {
      throw new AddressRangeError(
        `Cannot address bytes ${offsetBytes}-${offsetBytes + lengthBytes - 1} of ${this.path}: the volume has ${this.flatSizeBytes} bytes`,
        { path: this.path, offset: offsetBytes },
      );
    }
  }

  /** Reads bytes of the flat view. */
  readFlat(offsetBytes: number, lengthBytes: number): Buffer {
    const out = Buffer.allocUnsafe(lengthBytes);
    this.readFlatInto(offsetBytes, out);
    return out;
  }

  /**
   * Reads `into.length` bytes of the flat view into the caller's buffer: one read where the image
   * has the slots in one file, so a caller that reuses its buffer (the NBD server) neither
   * allocates nor copies per read.
   */
  readFlatInto(offsetBytes: number, into: Buffer): void {
    this.checkFlat(offsetBytes, into.length);
    if (into.length === 0) return;
    const slot = this.backend.slotBytes;
    (this.backend as ReadHookedBackend).readUnitsInto(Math.floor(offsetBytes / slot), into, offsetBytes % slot);
  }

  /**
   * `readFlatInto` for a read in flight: where the image has its slots in one file, on the libuv
   * thread pool while its reads wait for the disk (several run at once, and the owning thread goes
   * on meanwhile), in line while they find the page cache (base/io-placement.ts); else on this
   * thread. A host write that lands while such a read is in flight may or may not be in what it
   * returns; the volume must stay open until the promise settles.
   */
  async readFlatIntoAsync(offsetBytes: number, into: Buffer): Promise<void> {
    this.checkFlat(offsetBytes, into.length);
    if (into.length === 0) return;
    const slot = this.backend.slotBytes;
    await (this.backend as ReadHookedBackend).readUnitsIntoAsync(Math.floor(offsetBytes / slot), into, offsetBytes % slot);
  }

  /** Writes bytes of the flat view as a host write of every unit they touch. */
  writeFlat(offsetBytes: number, data: Buffer): void {
    this.flatWrite(offsetBytes, data, false);
  }

  /**
   * Zeroes `zeroes.length` bytes of the flat view (`zeroes` holds only zeros): a host write of every
   * unit they touch, as `writeFlat` of zeros, but of a CKD track only the bytes its size table V
   * says may be non-zero are written (widened to the end of their page of the file): past V the slot
   * holds zeros already. So a zero fill of empty tracks (a remote mirror's zero tails, an NBD
   * client's WRITE_ZEROES) allocates nothing, and a sparse image stays sparse.
   */
  zeroFlat(offsetBytes: number, zeroes: Buffer): void {
    this.flatWrite(offsetBytes, zeroes, true);
  }

  private flatWrite(offsetBytes: number, data: Buffer, zeroFill: boolean): void {
    this.checkFlat(offsetBytes, data.length);
    if (data.length === 0) return;
    const slot = this.backend.slotBytes;
    const first = Math.floor(offsetBytes / slot);
    const last = Math.floor((offsetBytes + data.length - 1) / slot);
    const sizes = this.geometry.kind === 'ckd' ? this.trackSizes() : undefined;
    const backend = this.backend as ReadHookedBackend;
    this.write('raw', first, last - first + 1, () => {
      const spans = zeroFill && sizes ? this.mayBeNonZero(sizes, offsetBytes, data.length) : undefined;
      const after = sizes ? this.sizesAfterFlatWrite(sizes, offsetBytes, data, zeroFill) : undefined;
      // One call for the whole span where the image has the slots in one file (a mirror's copy of a
      // cylinder, an NBD request: one system call, not one per unit).
      if (spans === undefined) backend.writeUnits(first, data, offsetBytes % slot);
      else for (const s of spans) backend.writeUnits(Math.floor(s.start / slot), data.subarray(0, s.end - s.start), s.start % slot);
      after?.forEach((bytes, i) => sizes?.set(first + i, bytes));
    });
  }

  /**
   * The spans of the flat range [offsetBytes, + length) that may hold non-zero bytes: of each track
   * its first V bytes, widened to whole pages of the file within the range (base/page-spans.ts),
   * neighbours merged.
   */
  private mayBeNonZero(sizes: TrackSizeTable, offsetBytes: number, length: number): FlatSpan[] {
    const slot = this.backend.slotBytes;
    const location = this.imageBackend.location();
    const end = offsetBytes + length;
    const pieces: FlatSpan[] = [];
    // Bounded: each turn moves to the next slot the range touches.
    for (let at = offsetBytes; at < end;) {
      const unit = Math.floor(at / slot);
      const used = unit * slot + sizes.get(unit);
      if (used > at) pieces.push({ start: at, end: Math.min(end, used) });
      at = Math.min(end, (unit + 1) * slot);
    }
    return pageSpans(pieces, location.kind === 'file' ? location.dataOffsetBytes : undefined, offsetBytes, end);
  }

  /**
   * `writeFlat` with the bytes landing off the owning thread, where the volume allows it: the chain
   * runs now, on this thread, before this returns (a refusal throws here), so writes pass it in call
   * order; the returned promise settles once the bytes are in the image (it rejects with the
   * write's failure, and V then keeps its larger value, as after a failed `writeFlat`). Where an
   * interceptor on the chain is not `deferredWriteSafe`, the image cannot write off this thread, or
   * deferred writes are held (`holdDeferredWrites`), the whole write runs now, as `writeFlat`.
   *
   * The caller orders what overlaps: it sends no read or write of the same bytes before the promise
   * settles (the NBD server waits), keeps `data` unchanged until then, and keeps the volume open
   * until every deferred write has landed (`writesLanded`). `data` may lie in several buffers (an
   * NBD WRITE's socket chunks): deferred, they land with one pwritev; run now, they are gathered
   * into one buffer first (the one copy on that path). A synchronous write of the same units
   * meanwhile (another writer of the volume) lands in no fixed order with it, as two NBD clients'
   * overlapping writes do; V then takes the larger of the two results, so it still covers every byte.
   */
  writeFlatDeferred(offsetBytes: number, data: ScatteredBytes): Promise<void> {
    return this.flatWriteDeferred(offsetBytes, data, false);
  }

  /** `zeroFlat` with the bytes landing off the owning thread, where the volume allows it (as `writeFlatDeferred`). */
  zeroFlatDeferred(offsetBytes: number, zeroes: Buffer): Promise<void> {
    return this.flatWriteDeferred(offsetBytes, zeroes, true);
  }

  private flatWriteDeferred(offsetBytes: number, data: ScatteredBytes, zeroFill: boolean): Promise<void> {
    const backend = this.backend as ReadHookedBackend;
    if (this.deferHolds > 0 || !backend.writesAsync || !this.chain.deferredWriteSafe) {
      this.flatWrite(offsetBytes, gatherBytes(data), zeroFill);
      return Promise.resolve();
    }
    const length = scatteredLength(data);
    this.checkFlat(offsetBytes, length);
    if (length === 0) return Promise.resolve();
    const slot = this.backend.slotBytes;
    const first = Math.floor(offsetBytes / slot);
    const count = Math.floor((offsetBytes + length - 1) / slot) - first + 1;
    const sizes = this.geometry.kind === 'ckd' ? this.trackSizes() : undefined;
    let after: number[] | undefined;
    const written = this.write('raw', first, count, () => {
      const spans = zeroFill && sizes ? this.mayBeNonZero(sizes, offsetBytes, length) : undefined;
      after = sizes ? this.sizesAfterFlatWrite(sizes, offsetBytes, data, zeroFill) : undefined;
      if (spans === undefined) return backend.writeUnitsAsync(first, data, offsetBytes % slot);
      const zeroes = gatherBytes(data);
      return Promise.all(spans.map((s) => backend.writeUnitsAsync(Math.floor(s.start / slot), zeroes.subarray(0, s.end - s.start), s.start % slot))).then(
        () => undefined,
      );
    });
    // Only a CKD volume has a size table to settle when the write lands.
    const tracked = sizes !== undefined ? count : 0;
    this.noteLanding(first, tracked, 1);
    const landed: Promise<void> = written
      .then(() => {
        if (sizes !== undefined && after !== undefined) this.settleLandedSizes(sizes, first, after);
      })
      .finally(() => {
        this.noteLanding(first, tracked, -1);
        this.landing.delete(landed);
      });
    this.landing.add(landed);
    return landed;
  }

  /** Counts the deferred writes covering each unit of a run (`delta` 1 at the start, -1 once landed). */
  private noteLanding(first: number, count: number, delta: 1 | -1): void {
    for (let u = first; u < first + count; u++) {
      const n = (this.unitsLanding.get(u) ?? 0) + delta;
      if (n > 0) {
        this.unitsLanding.set(u, n);
        continue;
      }
      this.unitsLanding.delete(u);
      this.touchedWhileLanding.delete(u);
    }
  }

  /** V of a deferred write's units once it landed: its own result, or the larger one where another write touched the unit meanwhile. */
  private settleLandedSizes(sizes: TrackSizeTable, first: number, after: readonly number[]): void {
    after.forEach((bytes, i) => {
      const unit = first + i;
      sizes.set(unit, this.touchedWhileLanding.has(unit) ? Math.max(sizes.get(unit), bytes) : bytes);
    });
  }

  /** Deferred writes whose bytes have not landed yet. */
  get deferredWritesInFlight(): number {
    return this.landing.size;
  }

  /** Resolves once every deferred write started so far (and any started meanwhile) has landed or failed. */
  async writesLanded(): Promise<void> {
    // Bounded: each turn waits for the writes in flight; new ones start only from the caller's requests.
    while (this.landing.size > 0) await Promise.allSettled([...this.landing]);
  }

  /**
   * Makes every write run synchronously until the returned release is called (idempotent): a
   * session about to join the chain first holds deferred writes and waits for those in flight
   * (`writesLanded`), so none lands after it joined (deferred-writes.ts `withWritesLanded`).
   */
  holdDeferredWrites(): () => void {
    this.deferHolds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.deferHolds--;
    };
  }

  /**
   * The used bytes V of each unit a flat write touches, as they will be once it lands. A raw write
   * may put bytes past the end-of-track marker: V covers every byte that may be non-zero, so that a
   * copy of the used prefix is still the whole slot's content. But only those: a written zero is not
   * used (a mirror sends whole slots with zero tails). Nothing is read back: the marker is 8 bytes
   * of 0xFF, so a track's decoded length never passes its last non-zero byte, and that byte follows
   * from V before the write and the bytes written. Until the write has landed, V keeps the larger of
   * the two (set here), so a write that fails part-way leaves no non-zero byte past V.
   */
  private sizesAfterFlatWrite(sizes: TrackSizeTable, offsetBytes: number, data: ScatteredBytes, zeroFill = false): number[] {
    const slot = this.backend.slotBytes;
    const after: number[] = [];
    const length = scatteredLength(data);
    // Bounded: each turn sizes one unit the span touches.
    for (let done = 0; done < length;) {
      const unit = Math.floor((offsetBytes + done) / slot);
      const inSlot = (offsetBytes + done) % slot;
      const take = Math.min(slot - inSlot, length - done);
      const before = sizes.get(unit);
      // A zero fill's bytes need no scan: none of them is non-zero.
      const bytes = zeroFill ? keptAfterWrite(before, inSlot, inSlot + take) : nonZeroAfterWrite(before, inSlot, sliceScattered(data, done, done + take));
      after.push(bytes);
      sizes.set(unit, Math.max(before, bytes));
      done += take;
    }
    return after;
  }

  // ---- life cycle ------------------------------------------------------------------------------

  /** A host flush: the sessions' own state first (`beforeSync`), then the image. */
  sync(): void {
    this.chain.beforeSync();
    this.backend.sync();
  }

  /**
   * Closes the volume; a writable CKD volume keeps its size table beside the image. No deferred
   * write may be in flight (wait for `writesLanded`), but at an exit that cannot wait.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Callers wait for `writesLanded` first (the NBD server does); only an exit that cannot wait
    // closes with writes in flight. A pwrite queued on libuv's pool holds only the descriptor's
    // number: closed now, the next file opened would take it and the write would land there. So
    // the image stays open (and locked) until those writes landed; an exit that comes first closes
    // it, and the size table beside the image, not saved then, is rebuilt by a scan at the next open.
    if (this.landing.size > 0) {
      // Nobody waits for this close: a failure of it has no caller to go to, and must not end the process.
      void this.writesLanded()
        .then(() => this.closeNow())
        .catch(() => undefined);
      return;
    }
    this.closeNow();
  }

  private closeNow(): void {
    const sizes = this.sizes;
    const keepSizes = !this.backend.readOnly && sizes !== undefined && this.geometry.kind === 'ckd';
    // Saved while the lock is still held, and after the last write (the stamp is final).
    if (keepSizes) saveTrackSizes(this.path, sizes.raw);
    this.backend.close();
    this.chain.afterClose();
  }
}
