/**
 * The one pacing of every background copy (the "pause the copy loop after M consecutive copies so
 * that application I/O gets through" of the copy technique, and a rate cap), shared by every
 * thread that runs one copy: its counters live in a SharedArrayBuffer, so the copy as a whole
 * pauses and the rate holds for the session, however many workers copy, on a worker and on the
 * owning thread alike. Host-driven copies (copy-before-write, fetch on demand) are never paced.
 *
 * Layout (BigInt64 words): 0 units copied, 1 bytes copied, 2 pause until (ms since the epoch),
 * 3 start (ms since the epoch), 4 batches logged; then a ring of the last TRACE_ENTRIES batches,
 * three words each (when it landed, ms since the epoch; the units copied with it; the pause in
 * force once it was counted, its end in ms since the epoch, or 0): the copy's event timestamps,
 * which show its pauses and its rate to whoever reads them (`copyTrace`).
 *
 * Decision: the pause after M units starts when the batch that reaches M completes (a batch is one
 * cylinder), and every thread holds before its next batch until it ends; a batch already in flight
 * on another thread finishes first and restarts the pause, so no unit completes during the last
 * P ms of a pause (the pause lasts up to one batch longer than P).
 */
export interface PacingPlan {
  readonly buffer: SharedArrayBuffer;
  /** Cap for the copy as a whole, bytes per second; 0 for none. */
  readonly bytesPerSecond: number;
  /** Pause after this many units copied; 0 for never. */
  readonly pauseAfterUnits: number;
  readonly pauseMs: number;
}

const WORD = { units: 0, bytes: 1, pauseUntil: 2, started: 3, traced: 4 } as const;
const WORDS = 5;
/** Batches kept in the trace: a cylinder each, so the last 2,048 cylinders of a copy (48 KiB). */
export const TRACE_ENTRIES = 2048;
const TRACE_WORDS = 3;

/** One batch of the background copy, as the trace keeps it. */
export interface CopyTraceEntry {
  /** When its last unit landed, ms since the epoch. */
  readonly atMs: number;
  /** Units copied by the whole copy with this batch. */
  readonly unitsAfter: number;
  /** The end of the pause in force once it was counted (ms since the epoch), or 0 for none. */
  readonly pauseUntilMs: number;
}

export interface PacingOptions {
  readonly bytesPerSecond?: number;
  readonly pauseAfterUnits?: number;
  readonly pauseMs?: number;
}

export function createPacing(options: PacingOptions = {}): PacingPlan {
  const buffer = new SharedArrayBuffer((WORDS + TRACE_WORDS * TRACE_ENTRIES) * 8);
  new BigInt64Array(buffer)[WORD.started] = BigInt(Date.now());
  return { buffer, bytesPerSecond: options.bytesPerSecond ?? 0, pauseAfterUnits: options.pauseAfterUnits ?? 0, pauseMs: options.pauseMs ?? 0 };
}

export class Pacing {
  // Shared, Atomics only.
  private readonly words: BigInt64Array;
  // Set once.
  private readonly plan: PacingPlan;

  constructor(plan: PacingPlan) {
    this.plan = plan;
    this.words = new BigInt64Array(plan.buffer);
  }

  get paced(): boolean {
    return this.plan.bytesPerSecond > 0 || (this.plan.pauseAfterUnits > 0 && this.plan.pauseMs > 0);
  }

  /** Ms this thread must hold before its next batch: a pause of the whole copy still running. */
  holdMs(now = Date.now()): number {
    return Math.max(0, Number(Atomics.load(this.words, WORD.pauseUntil)) - now);
  }

  /**
   * Counts a finished batch; returns how long this thread must hold: to the end of a pause that
   * this batch started (or one running), or until the copy as a whole is back under its rate.
   */
  account(units: number, bytes: number): number {
    const now = Date.now();
    const { pauseAfterUnits: m, pauseMs, bytesPerSecond } = this.plan;
    const before = Number(Atomics.add(this.words, WORD.units, BigInt(units)));
    const totalBytes = Number(Atomics.add(this.words, WORD.bytes, BigInt(bytes))) + bytes;
    const crossed = m > 0 && pauseMs > 0 && Math.floor((before + units) / m) > Math.floor(before / m);
    // A batch that another thread finishes inside a running pause moves its end: the copy as a
    // whole then stops for the full pause after its last write, not just after the first thread's.
    if (crossed || (units > 0 && pauseMs > 0 && this.holdMs(now) > 0)) this.pauseUntil(now + pauseMs);
    if (units > 0) this.trace(now, before + units);
    let hold = this.holdMs(now);
    if (bytesPerSecond > 0) {
      const dueMs = Number(Atomics.load(this.words, WORD.started)) + (totalBytes / bytesPerSecond) * 1000;
      hold = Math.max(hold, dueMs - now);
    }
    return hold;
  }

  private trace(atMs: number, unitsAfter: number): void {
    const slot = WORDS + TRACE_WORDS * (Number(Atomics.add(this.words, WORD.traced, 1n)) % TRACE_ENTRIES);
    const pauseUntil = Atomics.load(this.words, WORD.pauseUntil);
    Atomics.store(this.words, slot, BigInt(atMs));
    Atomics.store(this.words, slot + 1, BigInt(unitsAfter));
    Atomics.store(this.words, slot + 2, pauseUntil > BigInt(atMs) ? pauseUntil : 0n);
  }

  /** Moves the shared "pause until" later, never earlier. */
  private pauseUntil(endMs: number): void {
    const end = BigInt(Math.ceil(endMs));
    // Bounded: a failed exchange means another thread moved it; retry only while ours is later.
    for (let seen = Atomics.load(this.words, WORD.pauseUntil); seen < end; seen = Atomics.load(this.words, WORD.pauseUntil)) {
      if (Atomics.compareExchange(this.words, WORD.pauseUntil, seen, end) === seen) return;
    }
  }
}

/** The last batches of a copy (at most TRACE_ENTRIES), oldest first. */
export function copyTrace(plan: PacingPlan): CopyTraceEntry[] {
  const words = new BigInt64Array(plan.buffer);
  const count = Number(Atomics.load(words, WORD.traced));
  const entries: CopyTraceEntry[] = [];
  for (let i = Math.max(0, count - TRACE_ENTRIES); i < count; i++) {
    const slot = WORDS + TRACE_WORDS * (i % TRACE_ENTRIES);
    entries.push({
      atMs: Number(Atomics.load(words, slot)),
      unitsAfter: Number(Atomics.load(words, slot + 1)),
      pauseUntilMs: Number(Atomics.load(words, slot + 2)),
    });
  }
  return entries.sort((a, b) => a.atMs - b.atMs || a.unitsAfter - b.unitsAfter);
}

/** When the copy's pacing began (ms since the epoch): the start of its rate budget. */
export function pacingStartedMs(plan: PacingPlan): number {
  return Number(Atomics.load(new BigInt64Array(plan.buffer), WORD.started));
}
