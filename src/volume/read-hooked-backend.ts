/**
 * The backend a `Volume` hands out as `volume.backend`: the image backend itself, except that every
 * read of units first runs the interceptor chain's `beforeRead` (write-interceptor.ts). So a read
 * that bypasses the Volume's own methods (a tape backup reading slots, the size-table scan) still
 * sees a clone destination's tracks fetched from the source first.
 *
 * `location()`: while some interceptor watches reads, units cannot be read by path from a worker
 * (the worker would miss the fetch), so the location is `main-thread` and copies go through
 * `readUnit` on the owning thread. Writes pass straight through: the chain runs in `Volume.write`.
 * `writeUnits` writes a run of whole slots in one call where the image allows it (`Volume.writeFlat`).
 */
import { assert } from '../base/assert.js';
import type { ScatteredBytes } from '../base/scattered-bytes.js';
import type { ImageBackend, UnitLocation } from '../image/image-backend.js';
import { DelegatingBackend } from '../image/delegating-backend.js';
import type { InterceptorChain } from './write-interceptor.js';

export class ReadHookedBackend extends DelegatingBackend {
  // Set once.
  private readonly chain: InterceptorChain;

  constructor(inner: ImageBackend, chain: InterceptorChain) {
    super(inner);
    this.chain = chain;
  }

  override readUnit(unitIndex: number, lengthBytes: number): Buffer {
    this.chain.beforeRead({ firstUnit: unitIndex, unitCount: 1 });
    return this.inner.readUnit(unitIndex, lengthBytes);
  }

  override readUnits(firstUnit: number, unitCount: number): Buffer {
    this.chain.beforeRead({ firstUnit, unitCount });
    return this.inner.readUnits(firstUnit, unitCount);
  }

  /** Slots (or a span of the flat view) into the caller's buffer, after the chain's `beforeRead` as any read. */
  readUnitsInto(firstUnit: number, into: Buffer, offsetInSlot = 0): void {
    const unitCount = Math.ceil((offsetInSlot + into.length) / this.slotBytes);
    this.chain.beforeRead({ firstUnit, unitCount });
    if (this.inner.readUnitsInto) {
      this.inner.readUnitsInto(firstUnit, into, offsetInSlot);
      return;
    }
    if (offsetInSlot === 0 && into.length === unitCount * this.slotBytes) {
      this.inner.readUnits(firstUnit, unitCount).copy(into);
      return;
    }
    // Bounded: each turn fills the rest of one slot.
    for (let done = 0, u = firstUnit, inSlot = offsetInSlot; done < into.length; u++, inSlot = 0) {
      const take = Math.min(this.slotBytes - inSlot, into.length - done);
      this.inner.readUnit(u, inSlot + take).copy(into, done, inSlot);
      done += take;
    }
  }

  /**
   * `readUnitsInto` on the thread pool where the image allows it (else on this thread): the chain's
   * `beforeRead` runs first, here, as for any read.
   */
  async readUnitsIntoAsync(firstUnit: number, into: Buffer, offsetInSlot = 0): Promise<void> {
    if (this.inner.readUnitsIntoAsync === undefined) {
      this.readUnitsInto(firstUnit, into, offsetInSlot);
      return;
    }
    this.chain.beforeRead({ firstUnit, unitCount: Math.ceil((offsetInSlot + into.length) / this.slotBytes) });
    await this.inner.readUnitsIntoAsync(firstUnit, into, offsetInSlot);
  }

  /** Consecutive slots (whole, or cut at either end) in one call when the image has them in one file, else unit by unit. */
  writeUnits(firstUnit: number, data: Uint8Array, offsetInSlot = 0): void {
    if (this.inner.writeUnits) {
      this.inner.writeUnits(firstUnit, data, offsetInSlot);
      return;
    }
    // Bounded: each turn writes the rest of one slot.
    for (let done = 0, u = firstUnit, inSlot = offsetInSlot; done < data.length; u++, inSlot = 0) {
      const take = Math.min(this.slotBytes - inSlot, data.length - done);
      this.inner.writeUnit(u, data.subarray(done, done + take), inSlot);
      done += take;
    }
  }

  /** Whether the image writes slots off this thread (`writeUnitsAsync`). */
  get writesAsync(): boolean {
    return this.inner.writeUnitsAsync !== undefined;
  }

  /** `writeUnits` on the thread pool; only where `writesAsync` (Volume.writeFlatDeferred checks). */
  writeUnitsAsync(firstUnit: number, data: ScatteredBytes, offsetInSlot = 0): Promise<void> {
    const write = this.inner.writeUnitsAsync;
    assert(write !== undefined, `${this.path} writes slots off the owning thread`);
    return write.call(this.inner, firstUnit, data, offsetInSlot);
  }

  override location(): UnitLocation {
    const location = this.inner.location();
    if (!this.chain.hasReaders || location.kind !== 'file') return location;
    return { kind: 'main-thread', path: location.path, reason: 'a session fetches units on demand before they are read (a clone destination)' };
  }
}
