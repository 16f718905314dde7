/**
 * The piscina worker of the engine: runs one plan's copy loop on this thread, with both ends as
 * files it opens itself. Every worker of a copy gets the same plan and takes batches from its
 * shared cursor until none is left.
 */
import { SnaptapeError } from '../errors/snaptape-error.js';
import type { CopyResult, FileCopyPlan } from './copy-plan.js';
import { CopyLoop } from './copy-loop.js';
import { TrackStateArray } from './track-state.js';
import { attachMarks } from './unit-copy.js';
import { FileUnitSink, FileUnitSource } from './unit-ports.js';

export default function runCopyPlan(plan: FileCopyPlan): CopyResult {
  let source: FileUnitSource | undefined;
  let sink: FileUnitSink | undefined;
  try {
    source = new FileUnitSource(plan.sourceFile, plan.source);
    const slots = 'slotBytes' in plan.targetFile ? plan.targetFile : undefined;
    sink = new FileUnitSink(plan.targetFile.path, plan.target, slots, 'identity' in plan.targetFile ? plan.targetFile.identity : undefined);
    const extents = plan.target.kind === 'slot' && plan.target.extentBuffer ? new Int32Array(plan.target.extentBuffer) : undefined;
    return new CopyLoop(plan, {
      states: TrackStateArray.attach(plan.stateBuffer),
      source,
      sink,
      target: plan.target,
      marks: attachMarks(plan.marks),
      ...(extents ? { extents } : {}),
      ...(plan.targetRate ? { targetRate: plan.targetRate } : {}),
    }).runBlocking();
  } catch (error) {
    const data =
      error instanceof SnaptapeError
        ? error.toData()
        : {
            code: 'IO' as const,
            message: `Cannot copy to ${plan.targetFile.path}: ${error instanceof Error ? error.message : String(error)}`,
            details: { path: plan.targetFile.path },
          };
    return { copied: 0, skipped: 0, bytes: 0, error: data };
  } finally {
    source?.close();
    sink?.close();
  }
}
