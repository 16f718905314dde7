/**
 * A file of fixed-size unit slots after a header: the storage of both the Hercules CKD image
 * (512-byte header, track slots) and the raw FBA image (no header, 512-byte blocks).
 * Every call is one positioned system call; a run of consecutive units is one read (the
 * number of system calls decides throughput).
 */
import { closeSync, fsyncSync } from 'node:fs';
import { readFully, readFullyAsync, writeFully, writeFullyAsync, writevFully, writevFullyAsync } from '../base/file-io.js';
import { scatteredLength, type ScatteredBytes } from '../base/scattered-bytes.js';
import { assert } from '../base/assert.js';
import { IoPlacement, WRITE_INLINE_MAX_BYTES } from '../base/io-placement.js';
import { AddressRangeError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import type { VolumeGeometry } from '../geometry/volume-geometry.js';
import { unitCount } from '../geometry/volume-geometry.js';
import type { FileUnitLocation, ImageBackend } from './image-backend.js';
import type { ImageLock } from './image-lock.js';

export interface SlotFileOptions {
  readonly path: string;
  readonly fd: number;
  readonly geometry: VolumeGeometry;
  readonly dataOffsetBytes: number;
  readonly slotBytes: number;
  readonly readOnly: boolean;
  readonly lock: ImageLock | undefined;
}

export class SlotFile implements ImageBackend {
  // Set once.
  readonly path: string;
  readonly geometry: VolumeGeometry;
  readonly readOnly: boolean;
  readonly slotBytes: number;
  private readonly dataOffsetBytes: number;
  private readonly unitTotal: number;
  // Main thread only.
  /** Where this file's reads in flight run (in line or on the pool); public for tests. */
  readonly readPlacement = new IoPlacement();
  /** Where its small writes in flight run (io-placement.ts); larger ones always on the pool. */
  readonly writePlacement = new IoPlacement(undefined, WRITE_INLINE_MAX_BYTES);
  private fd: number;
  private lock: ImageLock | undefined;

  constructor(options: SlotFileOptions) {
    this.path = options.path;
    this.fd = options.fd;
    this.geometry = options.geometry;
    this.dataOffsetBytes = options.dataOffsetBytes;
    this.slotBytes = options.slotBytes;
    this.readOnly = options.readOnly;
    this.lock = options.lock;
    this.unitTotal = unitCount(options.geometry);
  }

  private checkUnits(firstUnit: number, count: number): void {
    if (!Number.isInteger(firstUnit) || firstUnit < 0 || count < 0 || firstUnit + count > this.unitTotal) {
      const unit = this.geometry.kind === 'ckd' ? 'track' : 'block';
      throw new AddressRangeError(
        `Cannot address ${unit} ${firstUnit}${count > 1 ? `-${firstUnit + count - 1}` : ''} on ${this.path}: the volume has ${unit}s 0-${this.unitTotal - 1}`,
        { path: this.path, [unit]: firstUnit },
      );
    }
  }

  private offsetOf(unitIndex: number): number {
    return this.dataOffsetBytes + unitIndex * this.slotBytes;
  }

  private readExactly(buffer: Buffer, position: number, what: string): void {
    readFully(this.fd, buffer, position, this.path, what);
  }

  readUnit(unitIndex: number, lengthBytes: number): Buffer {
    this.checkUnits(unitIndex, 1);
    assert(lengthBytes >= 0 && lengthBytes <= this.slotBytes, 'a unit read stays inside its slot');
    const out = Buffer.allocUnsafe(lengthBytes);
    this.readExactly(out, this.offsetOf(unitIndex), `unit ${unitIndex}`);
    return out;
  }

  readUnits(firstUnit: number, count: number): Buffer {
    this.checkUnits(firstUnit, count);
    const out = Buffer.allocUnsafe(count * this.slotBytes);
    this.readExactly(out, this.offsetOf(firstUnit), `units ${firstUnit}-${firstUnit + count - 1}`);
    return out;
  }

  readUnitsInto(firstUnit: number, into: Buffer, offsetInSlot = 0): void {
    assert(offsetInSlot >= 0 && offsetInSlot < this.slotBytes, 'a span starts inside its first slot');
    const count = Math.ceil((offsetInSlot + into.length) / this.slotBytes);
    this.checkUnits(firstUnit, count);
    this.readExactly(into, this.offsetOf(firstUnit) + offsetInSlot, `units ${firstUnit}-${firstUnit + count - 1}`);
  }

  /**
   * `readUnitsInto` for a read in flight: in line while the file's reads find the page cache, on
   * libuv's pool while they wait for the disk (`readPlacement` decides, io-placement.ts).
   */
  async readUnitsIntoAsync(firstUnit: number, into: Buffer, offsetInSlot = 0): Promise<void> {
    assert(offsetInSlot >= 0 && offsetInSlot < this.slotBytes, 'a span starts inside its first slot');
    const count = Math.ceil((offsetInSlot + into.length) / this.slotBytes);
    this.checkUnits(firstUnit, count);
    const position = this.offsetOf(firstUnit) + offsetInSlot;
    const what = (): string => `units ${firstUnit}-${firstUnit + count - 1}`;
    const fd = this.fd;
    // The caller keeps the image open until the read settles (the NBD server waits for its reads).
    await this.readPlacement.run(
      into.length,
      () => this.readExactly(into, position, what()),
      () => readFullyAsync(fd, into, position, this.path, what()),
    );
  }

  writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot = 0): void {
    assert(!this.readOnly, `${this.path} is open for writing`);
    this.checkUnits(unitIndex, 1);
    assert(offsetInSlot >= 0 && offsetInSlot + data.length <= this.slotBytes, 'a unit write stays inside its slot');
    this.writeAt(data, this.offsetOf(unitIndex) + offsetInSlot, `unit ${unitIndex}`);
  }

  /** Writes the bytes before unit 0 (the CKD device header). Used only when creating an image. */
  writeHeader(header: Uint8Array): void {
    assert(!this.readOnly && header.length === this.dataOffsetBytes, 'the header fills the bytes before unit 0');
    this.writeAt(header, 0, 'the device header');
  }

  /** Writes consecutive slots from `offsetInSlot` of the first (whole, or cut at either end) in one call. */
  writeUnits(firstUnit: number, data: Uint8Array, offsetInSlot = 0): void {
    assert(!this.readOnly, `${this.path} is open for writing`);
    assert(offsetInSlot >= 0 && offsetInSlot < this.slotBytes, 'a span starts inside its first slot');
    this.checkUnits(firstUnit, Math.ceil((offsetInSlot + data.length) / this.slotBytes));
    this.writeAt(data, this.offsetOf(firstUnit) + offsetInSlot, `units from ${firstUnit}`);
  }

  /**
   * `writeUnits` for a write in flight, on libuv's pool when larger than WRITE_INLINE_MAX_BYTES: unlike
   * a read, a write that the page cache took at once says nothing of the next, which the kernel may
   * hold back at its dirty-page limit (or must first read the rest of a page for), and in line every
   * client would wait with it. Measured (bench/RESULTS.md section 4): writes in line as reads are
   * took 1.43× the time of the pool's on a cold image (5.98 s against 4.18 s), for 15% less on a
   * cached one. A smaller one (a track's used bytes, a zero fill's page) runs where `writePlacement`
   * says (io-placement.ts): in line while the file's small writes are fast, where the hand-over to
   * the pool would cost more than the write. Bytes in several buffers (an NBD WRITE's socket chunks)
   * land with one pwritev, never gathered.
   */
  async writeUnitsAsync(firstUnit: number, data: ScatteredBytes, offsetInSlot = 0): Promise<void> {
    assert(!this.readOnly, `${this.path} is open for writing`);
    assert(offsetInSlot >= 0 && offsetInSlot < this.slotBytes, 'a span starts inside its first slot');
    this.checkUnits(firstUnit, Math.ceil((offsetInSlot + scatteredLength(data)) / this.slotBytes));
    const position = this.offsetOf(firstUnit) + offsetInSlot;
    const fd = this.fd;
    const what = `units from ${firstUnit}`;
    // The caller keeps the image open until the write settles (the NBD server waits for its writes).
    await this.writePlacement.run(
      scatteredLength(data),
      () => (Buffer.isBuffer(data) ? writeFully(fd, data, position, this.path, what) : writevFully(fd, data, position, this.path, what)),
      () => (Buffer.isBuffer(data) ? writeFullyAsync(fd, data, position, this.path, what) : writevFullyAsync(fd, data, position, this.path, what)),
    );
  }

  private writeAt(data: Uint8Array, position: number, what: string): void {
    writeFully(this.fd, data, position, this.path, what);
  }

  sync(): void {
    if (this.readOnly) return;
    try {
      fsyncSync(this.fd);
    } catch (error) {
      throw translateIoError(error, `flush ${this.path}`, this.path);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } finally {
      this.fd = -1;
      this.lock?.release();
      this.lock = undefined;
    }
  }

  location(): FileUnitLocation {
    return { kind: 'file', path: this.path, dataOffsetBytes: this.dataOffsetBytes, slotBytes: this.slotBytes };
  }
}
