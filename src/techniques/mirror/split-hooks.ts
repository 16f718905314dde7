/**
 * Quiesce hooks around a mirror's split instant (`--pre-split CMD`, `--post-split CMD`): the
 * "discover / block / unblock" of a database that writes through NBD. The pre-split hook blocks the
 * application's writes, the split takes the point in time, the post-split hook lets them go on.
 *
 * Decisions:
 * - a hook is one shell command line, run as `/bin/sh -c CMD` (so a user may write pipes, `&&`
 *   and redirections, as in git and ssh hooks), in the caller's working directory;
 * - it runs with the caller's environment plus SNAPTAPE_HOOK (`pre-split` or `post-split`),
 *   SNAPTAPE_VOLUME (the volume named on the command line), SNAPTAPE_MIRROR (M2..M4, or empty for
 *   every mirror of the volume) and SNAPTAPE_SIDE (`primary` or `secondary`: whose server splits);
 * - it must end within its timeout (default HOOK_TIMEOUT_MS; then it is killed, SIGKILL to its
 *   process group so a shell's children go too);
 * - it fails when it exits non-zero, is killed by a signal, times out or cannot start: the error
 *   (HookError) names the hook and the volume and carries the last HOOK_OUTPUT_SHOWN characters of
 *   its output (stdout and stderr, interleaved as they came), which is kept bounded while it runs.
 */
import { spawn } from 'node:child_process';
import { HookError } from '../../errors/snaptape-error.js';

/** Longest a hook may run: a database's checkpoint fits well inside a minute. */
export const HOOK_TIMEOUT_MS = 60_000;
/** Output kept while a hook runs (the tail): enough for any error a script prints, bounded. */
export const HOOK_OUTPUT_KEPT = 64 * 1024;
/** Output shown in a failure's message: its last characters. */
export const HOOK_OUTPUT_SHOWN = 2_000;

export type SplitHookPhase = 'pre-split' | 'post-split';

export interface SplitHookContext {
  /** The volume named on the command line (the primary's or the secondary's export name). */
  readonly volume: string;
  /** M2..M4, or undefined for every mirror of the volume. */
  readonly mirror?: string;
  /** Whose server takes the split. */
  readonly side: 'primary' | 'secondary';
  readonly timeoutMs?: number;
}

export interface SplitHookResult {
  readonly phase: SplitHookPhase;
  readonly command: string;
  /** The tail of its output (stdout and stderr). */
  readonly output: string;
  readonly durationMs: number;
}

/** Keeps the last `limit` bytes of a stream of chunks. */
class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    // Bounded: each turn drops one chunk.
    while (this.bytes - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) this.bytes -= this.chunks.shift()?.length ?? 0;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

function shown(output: string): string {
  const trimmed = output.trimEnd();
  if (trimmed.length === 0) return 'it printed nothing';
  const tail = trimmed.length > HOOK_OUTPUT_SHOWN ? `…${trimmed.slice(-HOOK_OUTPUT_SHOWN)}` : trimmed;
  return `its output: ${tail}`;
}

/**
 * Runs one hook and resolves with its output once it exits 0; rejects with HookError otherwise.
 * The split is the caller's: a pre-split hook that rejects means no split is asked for.
 */
export function runSplitHook(phase: SplitHookPhase, command: string, context: SplitHookContext): Promise<SplitHookResult> {
  const timeoutMs = context.timeoutMs ?? HOOK_TIMEOUT_MS;
  const where = `the ${phase} hook of ${context.volume}${context.mirror !== undefined ? ` ${context.mirror}` : ''}`;
  const details = { volume: context.volume, hook: phase, command: command.slice(0, 200) };
  if (command.trim().length === 0) return Promise.reject(new HookError(`Cannot run ${where}: the command is empty`, details));
  const started = Date.now();
  return new Promise<SplitHookResult>((resolve, reject) => {
    const tail = new OutputTail(HOOK_OUTPUT_KEPT);
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: {
        ...process.env,
        SNAPTAPE_HOOK: phase,
        SNAPTAPE_VOLUME: context.volume,
        SNAPTAPE_MIRROR: context.mirror ?? '',
        SNAPTAPE_SIDE: context.side,
      },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => tail.add(chunk));
    child.stderr.on('data', (chunk: Buffer) => tail.add(chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new HookError(`Cannot run ${where} (${command}): ${error.message}`, details));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const output = tail.text();
      if (timedOut) reject(new HookError(`Cannot run ${where} (${command}): it did not end within ${timeoutMs} ms and was killed; ${shown(output)}`, details));
      else if (code === 0) resolve({ phase, command, output, durationMs: Date.now() - started });
      else {
        const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code ?? '?'}`;
        reject(new HookError(`Cannot run ${where} (${command}): it ${how}; ${shown(output)}`, { ...details, ...(code !== null ? { status: code } : {}) }));
      }
    });
  });
}

export interface SplitHooks {
  readonly preSplit?: string;
  readonly postSplit?: string;
}

/**
 * Takes a split between its hooks: pre-split, then `split`, then post-split. A pre-split hook that
 * fails means `split` is never called (the mirror stays as it was). The post-split hook runs
 * whenever the pre-split one succeeded, also when the split itself failed (the application must be
 * let go again); then the split's own failure is the one thrown. A post-split hook that fails after
 * a split that worked is thrown as HookError: the split stands.
 */
export async function splitBetweenHooks<T>(
  hooks: SplitHooks,
  context: SplitHookContext,
  split: () => Promise<T>,
): Promise<{ result: T; hooks: SplitHookResult[] }> {
  const ran: SplitHookResult[] = [];
  if (hooks.preSplit !== undefined) ran.push(await runSplitHook('pre-split', hooks.preSplit, context));
  let result: T;
  try {
    result = await split();
  } catch (error) {
    if (hooks.postSplit !== undefined) await runSplitHook('post-split', hooks.postSplit, context).catch(() => undefined);
    throw error;
  }
  if (hooks.postSplit !== undefined) ran.push(await runSplitHook('post-split', hooks.postSplit, context));
  return { result, hooks: ran };
}
