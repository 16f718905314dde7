/**
 * The face of engine/: the copy engine: the unit copy, plans, ports, the background copy, pacing, the pool, the track-state array. It re-exports what other folders use; a module inside engine/ imports its
 * neighbours directly.
 */
export { type OwningThreadPorts, owningThreadCopier, runBackgroundCopy } from './background-copy.js';
export { BitColumns, MAX_BIT_COLUMNS } from './bit-columns.js';
export { COPY_BATCH_UNITS, SMALL_UNIT_BATCH_BYTES, type CopyPath, copyBatchUnits } from './copy-loop.js';
export { type PacingPlan, createPacing } from './copy-pacing.js';
export { type CopyPlan, type SlotTarget, type UnitCopyMarks, newCursor } from './copy-plan.js';
export { CopyPool, MAX_COPY_WORKERS, compiledScriptPath, defaultWorkerCount } from './copy-pool.js';
export { type TargetRate, createTargetRate, waitForTarget } from './target-rate.js';
export { CONTROL, TrackStateArray, UNIT_STATE, UNIT_STATE_NAMES, type UnitState } from './track-state.js';
export { type UnitCopier, copyUnits } from './unit-copy.js';
export { FileUnitSource, FunctionUnitSink, FunctionUnitSource, RunUnitSource, slotRuns, type UnitSink, type UnitSource, type UnitWrite } from './unit-ports.js';
