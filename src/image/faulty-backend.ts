/**
 * A fault-injecting `ImageBackend`: wraps any backend and runs its reads and writes through a
 * `FaultInjector` (fault-plan.ts has the spec syntax of `--inject`). For tests and experiments:
 *
 *   new Volume(new FaultyBackend(openImage(path), parseFaultPlan('write:3:EIO')))
 *
 * A read is one `readUnit` or `readUnits` call (it touches every unit it covers); a write is one
 * `writeUnit` call, and a write off the owning thread (`writeUnitsAsync`, offered where the inner
 * backend has it) counts as one write per unit it touches, as the same bytes written unit by unit
 * would. A torn write writes the first K bytes of `data` at its offset, then fails.
 *
 * Invariant: with read rules in the plan, `location()` says `main-thread`, so a backup copies
 * through `readUnit` on this thread instead of letting workers read the file by path past the
 * faults. Without them, workers may read by path (write faults only concern host writes).
 */
import { scatteredLength, sliceScattered, type ScatteredBytes } from '../base/scattered-bytes.js';
import { DelegatingBackend } from './delegating-backend.js';
import type { ImageBackend, UnitLocation } from './image-backend.js';
import { FaultInjector, type FaultPlan } from './fault-plan.js';

export class FaultyBackend extends DelegatingBackend {
  readonly injector: FaultInjector;

  /** Present when the inner backend writes off the owning thread: the same, through the plan. */
  readonly writeUnitsAsync?: (firstUnit: number, data: ScatteredBytes, offsetInSlot?: number) => Promise<void>;

  constructor(inner: ImageBackend, plan: FaultPlan) {
    super(inner);
    this.injector = new FaultInjector(plan, inner.path);
    const innerAsync = inner.writeUnitsAsync;
    if (innerAsync !== undefined) {
      this.writeUnitsAsync = async (firstUnit, data, offsetInSlot = 0) => {
        const slot = inner.slotBytes;
        // Bounded: each turn writes the rest of one slot; units land in order, as unit by unit.
        const length = scatteredLength(data);
        for (let done = 0, u = firstUnit, inSlot = offsetInSlot; done < length; u++, inSlot = 0) {
          const take = Math.min(slot - inSlot, length - done);
          const part = sliceScattered(data, done, done + take);
          const unit = u;
          const at = inSlot;
          await this.injector.writeAsync(unit, take, (bytes) => innerAsync.call(inner, unit, sliceScattered(part, 0, bytes), at));
          done += take;
        }
      };
    }
  }

  override readUnit(unitIndex: number, lengthBytes: number): Buffer {
    return this.injector.read(unitIndex, 1, () => this.inner.readUnit(unitIndex, lengthBytes));
  }

  override readUnits(firstUnit: number, unitCount: number): Buffer {
    return this.injector.read(firstUnit, unitCount, () => this.inner.readUnits(firstUnit, unitCount));
  }

  override writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot?: number): void {
    this.injector.write(unitIndex, data.length, (bytes) => this.inner.writeUnit(unitIndex, data.subarray(0, bytes), offsetInSlot));
  }

  override location(): UnitLocation {
    const hasReadRules = this.injector.plan.rules.some((r) => r.op === 'read');
    if (!hasReadRules) return this.inner.location();
    return { kind: 'main-thread', path: this.inner.path, reason: 'reads go through injected faults' };
  }
}
