/**
 * The file piscina loads in each copy worker. Piscina first tries `require()` on its worker file;
 * on Node 20.19+ a `require()` of an ES module loads it synchronously, and that path crashed the
 * whole process (a V8 fatal error, "IsGraphAsync must be used on an instantiated module") when two
 * handlers of one file were loaded at once. This entry is CommonJS, so `require()` is plain, and it
 * loads the real worker (copy-worker.js, an ES module) with `import()`, the asynchronous path,
 * once per thread, and then lowers the thread's priority (background-priority.ts).
 */
import type * as CopyWorker from './copy-worker.js';

let loaded: Promise<typeof CopyWorker> | undefined;
// The thread lowers itself below the owning thread (background-priority.ts) once it has loaded the
// copy, so that a starting worker does not wait behind busier threads for its modules.
const worker = (): Promise<typeof CopyWorker> =>
  (loaded ??= Promise.all([import('./copy-worker.js'), import('./background-priority.js')]).then(([copy, priority]) => {
    priority.runThisThreadInBackground();
    return copy;
  }));

// The copy is loaded as the thread starts, not at its first task: a backup starts its pool before
// it writes its first record, and the threads load the copy meanwhile. A failure to load fails the
// first task, as before.
void worker().catch(() => undefined);

type TaskOf<F> = F extends (task: infer T) => unknown ? T : never;

async function runCopyPlan(task: TaskOf<typeof CopyWorker.default>): Promise<ReturnType<typeof CopyWorker.default>> {
  return (await worker()).default(task);
}

export = runCopyPlan;
