/**
 * The backend a `Volume` hands out as `volume.backend`: the image backend itself, except that every
 * read of units first runs the interceptor chain's `beforeRead` (write-interceptor.ts). So a read
 * that bypasses the Volume's own methods (a tape backup reading slots, the size-table scan) still
 * sees a clone destination's tracks fetched from the source first.
 *
 * `location()`: while some interceptor watches reads, units cannot be read by path from a worker
 * (the worker would miss the fetch), so the location is `main-thread` and copies go through
 * `readUnit` on the owning thread. Writes pass straight through: the chain runs in `Volume.write`.
 */
import type { ImageBackend, UnitLocation } from '../image/image-backend.js';
import type { VolumeGeometry } from '../geometry/volume-geometry.js';
import type { InterceptorChain } from './write-interceptor.js';

export class ReadHookedBackend implements ImageBackend {
  // Set once.
  readonly inner: ImageBackend;
  private readonly chain: InterceptorChain;

  constructor(inner: ImageBackend, chain: InterceptorChain) {
    this.inner = inner;
    this.chain = chain;
  }

  get path(): string {
    return this.inner.path;
  }

  get geometry(): VolumeGeometry {
    return this.inner.geometry;
  }

  get readOnly(): boolean {
    return this.inner.readOnly;
  }

  get slotBytes(): number {
    return this.inner.slotBytes;
  }

  readUnit(unitIndex: number, lengthBytes: number): Buffer {
    this.chain.beforeRead({ firstUnit: unitIndex, unitCount: 1 });
    return this.inner.readUnit(unitIndex, lengthBytes);
  }

  readUnits(firstUnit: number, unitCount: number): Buffer {
    this.chain.beforeRead({ firstUnit, unitCount });
    return this.inner.readUnits(firstUnit, unitCount);
  }

  writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot?: number): void {
    this.inner.writeUnit(unitIndex, data, offsetInSlot);
  }

  sync(): void {
    this.inner.sync();
  }

  close(): void {
    this.inner.close();
  }

  location(): UnitLocation {
    const location = this.inner.location();
    if (!this.chain.hasReaders || location.kind !== 'file') return location;
    return { kind: 'main-thread', path: location.path, reason: 'a session fetches units on demand before they are read (a clone destination)' };
  }
}
