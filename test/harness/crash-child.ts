/**
 * Crash harnesses: runs a child process that does host writes and announces each one on stdout
 * ("begin <unit> <n>" before it starts, "ack <unit> <n>" after it returned), and SIGKILLs it after
 * a given number of acknowledgements or at a reported point of its progress. The log says which write each unit must hold afterwards:
 * its last acknowledged one, or the one in flight when the kill came (which may have landed).
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

export interface CrashLog {
  /** Per unit, the number of its last acknowledged write. */
  readonly acked: Map<number, number>;
  readonly inFlight: { readonly unit: number; readonly n: number } | null;
  readonly acks: number;
  /** True when the child printed "done" and exited before the kill came. */
  readonly finished: boolean;
}

/** Longest a child may run before it is killed anyway (a bounded wait). */
const CHILD_DEADLINE_MS = 30_000;

/**
 * Where a child is killed: after this many acknowledged writes, or (`progress`) as soon as the
 * child reports "progress <fraction>" at or past this fraction of its work. A point drawn from
 * the child's own progress lands before it finishes whatever the machine's speed, which a count of
 * writes or a delay does not.
 */
export type KillPoint = number | { readonly progress: number };

export function runAndKill(script: string, args: readonly string[], killAt: KillPoint): Promise<CrashLog> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, number>();
    let inFlight: { unit: number; n: number } | null = null;
    let acks = 0;
    let finished = false;
    let buffered = '';
    let killed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_DEADLINE_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [word, unit, n] = buffered.slice(0, nl).split(' ');
        buffered = buffered.slice(nl + 1);
        if (word === 'done') finished = true;
        if (word === 'progress' && typeof killAt === 'object' && Number(unit) >= killAt.progress && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
        if (word === 'begin') inFlight = { unit: Number(unit), n: Number(n) };
        if (word === 'ack') {
          acked.set(Number(unit), Number(n));
          inFlight = null;
          acks++;
          if (typeof killAt === 'number' && acks >= killAt && !killed) {
            killed = true;
            child.kill('SIGKILL');
          }
        }
      }
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL' && !(code === 0 && finished)) return reject(new Error(`crash child ended with ${code ?? signal}: ${stderr}`));
      resolve({ acked, inFlight, acks, finished: finished && signal !== 'SIGKILL' });
    });
  });
}

/**
 * Share of drawn kills that must land before the child finishes: a kill drawn after the work was
 * done is a run, not a crash, and the report counts the two apart.
 */
export const MIN_KILLED_SHARE = 0.95;

/** The figures a crash harness reports (bench/RELIABILITY.md collects them). */
export interface CrashFigures {
  readonly technique: string;
  /** Runs of the technique. */
  readonly runs: number;
  /** Child processes a kill was drawn for (one per run, except the clone's, which kills several per run). */
  readonly killDraws: number;
  /** SIGKILLs that landed before the child finished. */
  readonly kills: number;
  /** A count, or why there is none (a technique without host writes). */
  readonly ackedWritesLost: number | string;
  readonly falselyComplete: number;
  readonly [extra: string]: string | number;
}

/** Appends the figures as a JSON line to $SNAPTAPE_RELIABILITY_OUT, when `npm run reliability` set it. */
export function recordReliability(figures: Readonly<Record<string, string | number>>): void {
  const out = process.env['SNAPTAPE_RELIABILITY_OUT'];
  if (out) appendFileSync(out, `${JSON.stringify(figures)}\n`);
}

/** A crash harness's figures, with its kills and its runs counted apart. */
export function recordCrashFigures(figures: CrashFigures): void {
  recordReliability(figures);
}

/** Runs per crash harness: SNAPTAPE_CRASH_RUNS, or the CI default. */
export function crashRuns(ciDefault: number): number {
  const text = process.env['SNAPTAPE_CRASH_RUNS'];
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : ciDefault;
}
