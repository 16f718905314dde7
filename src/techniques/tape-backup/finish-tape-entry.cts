/**
 * The worker script of a tape's own steps on the copy pool's threads: the digests of its blocks
 * beside the copy (block-digest-pass.ts) and the last step (finish-tape-task.ts). CommonJS for the
 * reason the engine's own worker entry gives: piscina `require()`s its script, and a synchronous
 * `require()` of an ES module crashed Node 20.19+ when two handlers loaded at once; this loads the
 * ES modules with `import()` instead, once per thread. Like a copy worker, the thread lowers itself
 * below the owning thread first (engine/background-priority.ts): the pool's thread beside the copy
 * workers runs only these steps, and the host's writes must not wait behind it for a core.
 */
import type * as BlockDigestPass from './block-digest-pass.js';
import type * as FinishTapeTask from './finish-tape-task.js';

let lowered: Promise<void> | undefined;
let loadedFinish: Promise<typeof FinishTapeTask> | undefined;
let loadedPass: Promise<typeof BlockDigestPass> | undefined;

const inBackground = (): Promise<void> =>
  (lowered ??= import('../../engine/background-priority.js').then((priority) => {
    priority.runThisThreadInBackground();
  }));

async function finishTape(task: FinishTapeTask.FinishTapeTask): Promise<FinishTapeTask.FinishTapeResult> {
  await inBackground();
  return (await (loadedFinish ??= import('./finish-tape-task.js'))).finishTape(task);
}

async function digestBlocks(pass: BlockDigestPass.BlockDigestShared): Promise<BlockDigestPass.BlockDigestTaskResult> {
  await inBackground();
  return (await (loadedPass ??= import('./block-digest-pass.js'))).digestBlocks(pass);
}

export = Object.assign(finishTape, { finishTape, digestBlocks });
