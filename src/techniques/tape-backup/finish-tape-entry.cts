/**
 * The worker script of a tape's own steps on the copy pool's threads: the digest pass beside the
 * copy (tape-order-digest.ts) and the last step (finish-tape-task.ts). CommonJS for the reason the
 * engine's own worker entry gives: piscina `require()`s its script, and a synchronous `require()`
 * of an ES module crashed Node 20.19+ when two handlers loaded at once; this loads the ES modules
 * with `import()` instead, once per thread.
 */
import type * as FinishTapeTask from './finish-tape-task.js';
import type * as TapeOrderDigest from './tape-order-digest.js';

let loadedFinish: Promise<typeof FinishTapeTask> | undefined;
let loadedDigest: Promise<typeof TapeOrderDigest> | undefined;

async function finishTape(task: FinishTapeTask.FinishTapeTask): Promise<FinishTapeTask.FinishTapeResult> {
  return (await (loadedFinish ??= import('./finish-tape-task.js'))).finishTape(task);
}

async function digestTape(task: TapeOrderDigest.TapeDigestTask): Promise<TapeOrderDigest.TapeDigestResult> {
  return (await (loadedDigest ??= import('./tape-order-digest.js'))).digestTape(task);
}

export = Object.assign(finishTape, { finishTape, digestTape });
