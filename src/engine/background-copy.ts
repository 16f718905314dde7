/**
 * How a technique runs its background copy: one call, given the plan and either both ends as files
 * (then the pool's workers copy) or the owning thread's ports (a compressed, multi-file or mapped
 * image, a mirror's link, a new image: then this thread copies, a batch between two yields). It
 * says which path ran, so that a caller (and a test) can tell.
 */
import type { FileUnitLocation } from '../image/image-backend.js';
import type { CopyPlan, CopyResult, PlacedTargetFile } from './copy-plan.js';
import { countCopies } from './copy-census.js';
import { CopyLoop, type CopyPath } from './copy-loop.js';
import type { CopyPool } from './copy-pool.js';
import { TrackStateArray } from './track-state.js';
import { attachMarks, type UnitCopier } from './unit-copy.js';
import type { UnitSink, UnitSource } from './unit-ports.js';

export interface OwningThreadPorts {
  readonly source: UnitSource;
  readonly sink: UnitSink;
  readonly onWritten?: (units: readonly number[]) => void;
}

export interface BackgroundCopy {
  readonly plan: CopyPlan;
  /** Both ends as files at fixed offsets: the workers copy. */
  readonly files?: { readonly sourceFile: FileUnitLocation; readonly targetFile: FileUnitLocation | PlacedTargetFile };
  readonly pool?: () => CopyPool;
  /** The owning thread's ends, for a copy without `files` (or without a pool). */
  readonly ports: () => OwningThreadPorts;
}

export interface BackgroundCopyResult extends CopyResult {
  readonly path: CopyPath;
}

/** A unit copier for this thread over `plan`'s shared state: for its copies before host writes too. */
export function owningThreadCopier(plan: CopyPlan, ports: OwningThreadPorts, states = TrackStateArray.attach(plan.stateBuffer)): UnitCopier {
  const extentBuffer = plan.target.kind === 'slot' ? plan.target.extentBuffer : undefined;
  return {
    states,
    source: ports.source,
    sink: ports.sink,
    target: plan.target,
    marks: attachMarks(plan.marks),
    ...(extentBuffer ? { extents: new Int32Array(extentBuffer) } : {}),
    ...(ports.onWritten ? { onWritten: ports.onWritten } : {}),
    ...(plan.targetRate ? { targetRate: plan.targetRate } : {}),
  };
}

export async function runBackgroundCopy(copy: BackgroundCopy): Promise<BackgroundCopyResult> {
  if (copy.files && copy.pool) {
    const result = await copy.pool().copy({ ...copy.plan, ...copy.files });
    countCopies('worker', result.copied, result.bytes);
    return { ...result, path: 'worker' };
  }
  const ports = copy.ports();
  try {
    const result = await new CopyLoop(copy.plan, owningThreadCopier(copy.plan, ports)).runYielding();
    countCopies('owning-thread', result.copied, result.bytes);
    return { ...result, path: 'owning-thread' };
  } finally {
    ports.source.close?.();
    await ports.sink.close?.();
  }
}
