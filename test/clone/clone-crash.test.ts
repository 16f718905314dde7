/**
 * Layer: scenario with injected faults. A clone survives the death of its process (issue 10, items
 * 4 and 5). In SNAPTAPE_CRASH_RUNS runs (default 10) a child process runs a clone (CREATE +
 * PRECOPY, ACTIVATE after a random number of writes) with whole-track host writes on the source,
 * and after ACTIVATE on the destination too, acknowledging each write on stdout; the test SIGKILLs
 * it at a seeded moment (during the precopy, around ACTIVATE, during the background copy, at its end;
 * at least 95% of the drawn kills land before the child finishes),
 * then resumes the session in a new child (`openResumedClone`), which may be killed again, until a
 * child finishes (whenCopied, TERMINATE). Then:
 * - 0 acknowledged writes are lost: the source holds its last acknowledged write on every track
 *   (or the one write in flight at a kill), the destination likewise for its own writes;
 * - every other track of the destination equals the source at ACTIVATE (a reference copy taken in
 *   the same synchronous stretch as ACTIVATE), byte for byte;
 * - the record is never complete while tracks are missing: after every kill a record that says
 *   complete (or copied) must already have the destination right ("falsely complete").
 * Also: a resume is refused (CloneResumeError) when another process opened the source meanwhile.
 * A JSON line `{technique, runs, killDraws, kills, ackedWritesLost, falselyComplete}` is appended to the file
 * named by SNAPTAPE_RELIABILITY_OUT. Replay with SNAPTAPE_SEED=<seed printed>.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { openVolume } from '../../src/api/volume-api.js';
import { openResumedClone } from '../../src/api/clone-api.js';
import { readCloneRecord } from '../../src/techniques/clone/clone-record.js';
import { CloneResumeError } from '../../src/techniques/clone/clone-resume.js';
import type { Volume } from '../../src/volume/volume.js';
import { fcSeed } from '../harness/fc-seed.js';
import { MIN_KILLED_SHARE, recordCrashFigures } from '../harness/crash-child.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { makeFilledVolume, makeTarget } from './clone-fixtures.js';

const RUNS = crashRuns();
/** Host writes per child: enough to span the precopy, ACTIVATE and the background copy. */
const WRITES_PER_CHILD = 80;
/** A late ACTIVATE comes after at least this many writes, so its precopy outlasts the first pass. */
const MIN_WRITES_BEFORE_ACTIVATE = 20;
/** An early ACTIVATE comes within this many writes (before the first precopy pass is done). */
const EARLY_ACTIVATE_WRITES = 5;
/** Kills per run at most: the last child is always let finish. */
const MAX_KILLS_PER_RUN = 3;
/** A throttle that makes the first copy pass of the 3-cylinder source last about a third of a second. */
const THROTTLE_MBPS = 4;
/**
 * Kills after the writes land within this many ms of the last one: during the background copy,
 * or while the child, its copy done, waits at "copied" for the parent (which then holds its "go"
 * back), so the kill lands before the child finishes.
 */
const KILL_AFTER_WRITES_MS = 300;
const CYLINDERS = 3;
/** Longest a child may run before the test gives up on it (bounded wait). */
const CHILD_DEADLINE_MS = 60_000;
/** Numbers of the writes of one child start at a multiple of this, so every write is unique. */
const WRITE_NUMBER_STRIDE = 10_000;
const CHILD = fileURLToPath(new URL('./helpers/clone-crash-child.mjs', import.meta.url));

function crashRuns(): number {
  const text = process.env['SNAPTAPE_CRASH_RUNS'];
  return text !== undefined && /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : 10;
}

function payload(n: number): Buffer {
  const data = Buffer.alloc(200 + ((n * 37) % 3000), n & 0xff);
  data.writeUInt32BE(n, 0);
  return data;
}

interface HostWrite {
  readonly which: 'src' | 'dst';
  readonly track: number;
  readonly n: number;
  acked: boolean;
}

interface ChildRun {
  readonly killed: boolean;
  readonly finished: boolean;
}

interface Paths {
  readonly source: string;
  readonly target: string;
  readonly reference: string;
}

/**
 * Where a child is killed: when this many writes are acknowledged, this many ms after its last
 * one, or when it reports its copy done ("copied", before TERMINATE).
 */
type CloneKillPoint = { readonly acks: number } | { readonly msAfterWrites: number } | { readonly onCopied: true };

/** Runs one child; `killAt` undefined lets it finish. Appends its writes to `writes`. */
function runChild(
  mode: 'start' | 'resume',
  paths: Paths,
  args: { seed: number; firstN: number; activateAfter: number; killAt: CloneKillPoint | undefined },
  writes: HostWrite[],
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        CHILD,
        mode,
        paths.source,
        paths.target,
        paths.reference,
        String(args.seed),
        String(args.firstN),
        String(WRITES_PER_CHILD),
        String(args.activateAfter),
        String(THROTTLE_MBPS),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let buffered = '';
    let acks = 0;
    let killed = false;
    let done = false;
    const kill = (): void => {
      if (killed) return;
      killed = true;
      child.kill('SIGKILL');
    };
    const deadline = setTimeout(kill, CHILD_DEADLINE_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [word, which, track, n] = buffered.slice(0, nl).split(' ');
        buffered = buffered.slice(nl + 1);
        if (word === 'begin') writes.push({ which: which as 'src' | 'dst', track: Number(track), n: Number(n), acked: false });
        if (word === 'ack') {
          const last = writes[writes.length - 1];
          if (last && last.n === Number(n)) last.acked = true;
          acks++;
          const at = args.killAt;
          if (at !== undefined && 'acks' in at && acks >= at.acks) kill();
          if (at !== undefined && 'msAfterWrites' in at && acks === WRITES_PER_CHILD) setTimeout(kill, at.msAfterWrites);
        }
        // The child waits here for "go": a kill drawn for now, or for a delay after the writes, lands before it finishes.
        if (word === 'copied') {
          const at = args.killAt;
          if (at !== undefined && 'onCopied' in at) kill();
          else if (at === undefined || !('msAfterWrites' in at)) child.stdin.end('go\n');
        }
        if (word === 'done') done = true;
      }
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // A child killed while its stdin is open: the pipe's error is expected, not a failure.
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      if (signal === 'SIGKILL' && killed) return resolve({ killed: true, finished: done });
      if (code === 0 && done) return resolve({ killed: false, finished: true });
      reject(new Error(`clone child (${mode}) ended with ${code ?? signal}: ${stderr}`));
    });
  });
}

interface Check {
  readonly lostWrites: string[];
  readonly pointInTime: string[];
}

/** Whether a track's first record holds one of the payloads allowed by the writes to it. */
function holds(volume: Volume, track: number, allowed: readonly number[]): boolean {
  let data: Buffer | undefined;
  try {
    data = volume.readTrack(track).records[0]?.data;
  } catch {
    return false;
  }
  return data !== undefined && allowed.some((n) => data.equals(payload(n)));
}

/**
 * The payloads a track may hold after `writes` (in order): its last acknowledged write, or any
 * write in flight at a kill after it; undefined when no write to it was acknowledged (then
 * `inFlightOnly` lists the unacknowledged ones).
 */
function allowedPayloads(writes: readonly HostWrite[], which: 'src' | 'dst', track: number): { allowed: number[] | undefined; inFlightOnly: number[] } {
  const mine = writes.filter((w) => w.which === which && w.track === track);
  const lastAcked = mine.map((w) => w.acked).lastIndexOf(true);
  const after = mine.slice(lastAcked + 1).map((w) => w.n);
  if (lastAcked < 0) return { allowed: undefined, inFlightOnly: after };
  return { allowed: [(mine[lastAcked] as HostWrite).n, ...after], inFlightOnly: [] };
}

function slot(volume: Volume, track: number): Buffer {
  return volume.readFlat(track * volume.backend.slotBytes, volume.backend.slotBytes);
}

/** Checks the volumes against the writes and the reference (read-only opens, no session running). */
function checkVolumes(paths: Paths, writes: readonly HostWrite[]): Check {
  const lostWrites: string[] = [];
  const pointInTime: string[] = [];
  const source = openVolume(paths.source, { readOnly: true });
  const target = openVolume(paths.target, { readOnly: true });
  const reference = existsSync(paths.reference) ? openVolume(paths.reference, { readOnly: true }) : undefined;
  try {
    const tracks = source.ckd.trackCount;
    for (let t = 0; t < tracks; t++) {
      const src = allowedPayloads(writes, 'src', t);
      if (src.allowed && !holds(source, t, src.allowed)) lostWrites.push(`source track ${t} lost acknowledged write ${src.allowed[0]}`);
      const dst = allowedPayloads(writes, 'dst', t);
      if (dst.allowed) {
        if (!holds(target, t, dst.allowed)) lostWrites.push(`destination track ${t} lost acknowledged write ${dst.allowed[0]}`);
        continue;
      }
      if (!reference) {
        pointInTime.push('no reference: ACTIVATE never happened');
        break;
      }
      const same = slot(target, t).equals(slot(reference, t)) || (dst.inFlightOnly.length > 0 && holds(target, t, dst.inFlightOnly));
      if (!same) pointInTime.push(`destination track ${t} differs from the source at ACTIVATE`);
    }
  } finally {
    reference?.close();
    target.close();
    source.close();
  }
  return { lostWrites, pointInTime };
}

interface RunSummary {
  /** Children a kill was drawn for, and the SIGKILLs that landed before the child finished. */
  readonly killDraws: number;
  readonly kills: number;
  readonly ackedWritesLost: number;
  readonly falselyComplete: number;
  /** Lost writes, point-in-time mismatches and an unfinished clone, as messages. */
  readonly problems: readonly string[];
}

/**
 * When ACTIVATE comes: half the children activate early (most tracks still to copy, so kills land
 * in the background copy after ACTIVATE), half after a precopy that outlasts its first pass.
 */
function activateAfter(prng: Prng): number {
  return prng.below(2) === 0 ? prng.below(EARLY_ACTIVATE_WRITES) : MIN_WRITES_BEFORE_ACTIVATE + prng.below(WRITES_PER_CHILD - MIN_WRITES_BEFORE_ACTIVATE);
}

/** Kills by the phase the record showed right after them (where the kills landed). */
const killsByPhase: Record<string, number> = {};

async function oneRun(seed: number): Promise<RunSummary> {
  const dir = makeTempDir('snaptape-clone-crash-');
  const prng = new Prng(seed);
  try {
    const source = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed, percent: 60 });
    const target = makeTarget(dir.path, 'target.ckd', { cylinders: CYLINDERS });
    const paths: Paths = { source: source.path, target: target.path, reference: join(dir.path, 'reference.ckd') };
    source.close();
    target.close();
    const writes: HostWrite[] = [];
    let kills = 0;
    let killDraws = 0;
    let falselyComplete = 0;
    for (let child = 0; ; child++) {
      const lastChild = kills >= MAX_KILLS_PER_RUN || (child > 0 && prng.below(10) < 4);
      // Kill points: mostly after 1..WRITES acknowledged writes, else shortly after the last one or at the copy's end.
      const draw = prng.below(10);
      const killAt: CloneKillPoint | undefined = lastChild
        ? undefined
        : draw < 7
          ? { acks: 1 + prng.below(WRITES_PER_CHILD) }
          : draw < 9
            ? { msAfterWrites: prng.below(KILL_AFTER_WRITES_MS) }
            : { onCopied: true };
      if (killAt !== undefined) killDraws++;
      const result = await runChild(
        child === 0 ? 'start' : 'resume',
        paths,
        {
          seed: seed + child,
          firstN: child * WRITE_NUMBER_STRIDE,
          activateAfter: activateAfter(prng),
          killAt,
        },
        writes,
      );
      if (result.finished) break;
      kills++;
      // Never complete while tracks are missing: a record that says so must already be right.
      const record = readCloneRecord(paths.target);
      const phase = record?.phase ?? 'none';
      killsByPhase[phase] = (killsByPhase[phase] ?? 0) + 1;
      if (record && (record.complete || record.phase === 'copied')) {
        const check = checkVolumes(paths, writes);
        if (check.pointInTime.length > 0 || check.lostWrites.some((w) => w.startsWith('destination'))) falselyComplete++;
      }
      // Killed after TERMINATE (closing the volumes): nothing is left to resume.
      if (record?.phase === 'terminated') break;
    }
    const record = readCloneRecord(paths.target);
    const check = checkVolumes(paths, writes);
    if (record?.complete && check.pointInTime.length > 0) falselyComplete++;
    const problems = [
      ...check.lostWrites,
      ...check.pointInTime,
      ...(record?.phase === 'terminated' ? [] : [`the clone ends ${record?.phase ?? 'without a record'}`]),
    ];
    return { kills, killDraws, ackedWritesLost: check.lostWrites.length, falselyComplete, problems: problems.map((p) => `seed ${seed}: ${p}`) };
  } finally {
    dir.cleanup();
  }
}

describe(`clone crash resume (${RUNS} runs, SIGKILL at random moments)`, () => {
  it(
    'loses no acknowledged write, keeps the point in time, and is never falsely complete',
    async () => {
      const seed = fcSeed('clone-crash');
      let kills = 0;
      let killDraws = 0;
      let ackedWritesLost = 0;
      let falselyComplete = 0;
      const problems: string[] = [];
      try {
        for (let run = 0; run < RUNS; run++) {
          const summary = await oneRun(seed + run * 101);
          kills += summary.kills;
          killDraws += summary.killDraws;
          ackedWritesLost += summary.ackedWritesLost;
          falselyComplete += summary.falselyComplete;
          problems.push(...summary.problems);
        }
      } finally {
        recordCrashFigures({
          technique: 'clone',
          runs: RUNS,
          killDraws,
          kills,
          ackedWritesLost,
          falselyComplete,
          seed,
          killsByPhase: JSON.stringify(killsByPhase),
        });
        console.log(
          `[clone-crash] runs=${RUNS} killDraws=${killDraws} kills=${kills} ackedWritesLost=${ackedWritesLost} falselyComplete=${falselyComplete} killsByPhase=${JSON.stringify(killsByPhase)}`,
        );
      }
      expect(problems).toEqual([]);
      expect(falselyComplete).toBe(0);
      expect(ackedWritesLost).toBe(0);
      expect(kills).toBeGreaterThan(0);
      expect(kills, `${kills} of ${killDraws} drawn kills landed before the child finished`).toBeGreaterThanOrEqual(Math.ceil(MIN_KILLED_SHARE * killDraws));
    },
    RUNS * 40_000,
  );

  it('refuses a resume after another process opened the source for writing', async () => {
    const dir = makeTempDir('snaptape-clone-crash-');
    try {
      const source = makeFilledVolume(dir.path, { cylinders: 2, seed: 7 });
      const target = makeTarget(dir.path, 'target.ckd', { cylinders: 2 });
      const paths: Paths = { source: source.path, target: target.path, reference: join(dir.path, 'reference.ckd') };
      source.close();
      target.close();
      const writes: HostWrite[] = [];
      await runChild('start', paths, { seed: 7, firstN: 0, activateAfter: WRITES_PER_CHILD, killAt: { acks: 3 } }, writes);
      // Someone opens the source for writing (taking over the dead process's lock) and writes it.
      const intruder = openVolume(paths.source);
      intruder.writeTrackRecords(5, [{ key: Buffer.alloc(0), data: Buffer.from('unprotected') }]);
      intruder.close();
      let refused: unknown;
      try {
        openResumedClone(paths.target).session.cancel();
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(CloneResumeError);
      expect((refused as CloneResumeError).details['refusal']).toBe('source-opened');
      expect((refused as Error).message).toMatch(/Cannot resume clone session .* was opened for writing .* start a new clone/);
      // The images are not left locked by the refusal.
      openVolume(paths.source).close();
      openVolume(paths.target).close();
      copyFileSync(paths.source, paths.reference);
    } finally {
      dir.cleanup();
    }
  }, 60_000);
});
