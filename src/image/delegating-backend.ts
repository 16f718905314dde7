/**
 * A backend that wraps another and passes every call through: the base of backends that change
 * only some calls (reads that run hooks first, reads and writes that meet injected faults).
 * A subclass overrides just what it changes.
 */
import type { VolumeGeometry } from '../geometry/volume-geometry.js';
import type { ImageBackend, UnitLocation } from './image-backend.js';

export class DelegatingBackend implements ImageBackend {
  // Set once.
  readonly inner: ImageBackend;

  constructor(inner: ImageBackend) {
    this.inner = inner;
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
    return this.inner.readUnit(unitIndex, lengthBytes);
  }

  readUnits(firstUnit: number, unitCount: number): Buffer {
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
    return this.inner.location();
  }
}
