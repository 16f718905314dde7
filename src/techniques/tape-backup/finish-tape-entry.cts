/**
 * The worker script of a tape's own steps on the copy pool's threads: the digests of its blocks
 * beside the copy (block-digest-pass.ts) and the last step (finish-tape-task.ts). CommonJS for the reason the engine's own worker entry gives: piscina
 * `require()`s its script, and a synchronous `require()` of an ES module crashed Node 20.19+ when
 * two handlers loaded at once; this loads the ES module with `import()` instead, once per thread.
 */
import type * as BlockDigestPass from './block-digest-pass.js';
import type * as FinishTapeTask from './finish-tape-task.js';

let loadedFinish: Promise<typeof FinishTapeTask> | undefined;
let loadedPass: Promise<typeof BlockDigestPass> | undefined;

async function finishTape(task: FinishTapeTask.FinishTapeTask): Promise<FinishTapeTask.FinishTapeResult> {
  return (await (loadedFinish ??= import('./finish-tape-task.js'))).finishTape(task);
}

async function digestBlocks(pass: BlockDigestPass.BlockDigestShared): Promise<BlockDigestPass.BlockDigestTaskResult> {
  return (await (loadedPass ??= import('./block-digest-pass.js'))).digestBlocks(pass);
}

export = Object.assign(finishTape, { finishTape, digestBlocks });
