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

  override location(): UnitLocation {
    const location = this.inner.location();
    if (!this.chain.hasReaders || location.kind !== 'file') return location;
    return { kind: 'main-thread', path: location.path, reason: 'a session fetches units on demand before they are read (a clone destination)' };
  }
}
