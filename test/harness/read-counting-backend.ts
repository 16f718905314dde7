/**
 * An image backend that counts the units the volume reads from its image, for tests that show a
 * path reads nothing (an NBD write) or reads only what the engine copies (the census). With
 * `hideLocation`, it does not give out its file's location, so the engine copies on the owning
 * thread instead of on workers.
 */
import { DelegatingBackend } from '../../src/image/delegating-backend.js';
import type { ImageBackend, UnitLocation } from '../../src/image/image-backend.js';

export class ReadCountingBackend extends DelegatingBackend {
  unitsRead = 0;
  private readonly hideLocation: boolean;

  constructor(inner: ImageBackend, options: { readonly hideLocation?: boolean } = {}) {
    super(inner);
    this.hideLocation = options.hideLocation ?? false;
  }

  override readUnit(unitIndex: number, lengthBytes: number): Buffer {
    this.unitsRead++;
    return super.readUnit(unitIndex, lengthBytes);
  }

  override readUnits(firstUnit: number, unitCount: number): Buffer {
    this.unitsRead += unitCount;
    return super.readUnits(firstUnit, unitCount);
  }

  override location(): UnitLocation {
    return this.hideLocation ? { kind: 'main-thread', path: this.path, reason: 'a counting test backend' } : super.location();
  }
}
