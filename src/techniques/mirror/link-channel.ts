/**
 * The owning thread's side of the link worker (link-worker.ts): connect and drop remote links, and
 * `writeUnits`, which blocks (Atomics.wait) until every addressed link has acknowledged the writes,
 * has failed, or has timed out. That is what makes an ONGOING host write "acknowledged only after
 * every connected secondary has it": the host write's afterWrite does not return before this does.
 *
 * Invariants: one request at a time (the thread is blocked during it); a request is not started
 * while the worker is still busy with one that timed out on this side, because the shared buffers
 * would be overwritten under it; such a write counts as failed on every addressed link.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MirrorLinkMode } from '../../export/mirror-link-option.js';
import { assert } from '../../base/assert.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { spanOf } from '../../engine/unit-ports.js';
import { CHANNEL_WORD, CHANNEL_WORDS, DESCRIPTOR_FIELD, DESCRIPTOR_WORDS, type FromWorker, type ToWorker, type RemoteAddress } from './link-channel-layout.js';
import { LINK_BATCH_BYTES, LINK_BATCH_UNITS, LINK_TIMEOUT_MS, WORKER_GRACE_MS } from './mirror-limits.js';

export interface UnitImage {
  readonly unit: number;
  /** The unit's used bytes (a CKD track's V prefix, an FBA block whole). */
  readonly data: Buffer;
  /** Zero bytes that follow `data` up to the slot's end. */
  readonly zeroTail: number;
}

export type { RemoteAddress, RemoteTls } from './link-channel-layout.js';

/** What one descriptor of a request carries: bytes from `unit`'s slot on, then a zero tail. */
interface UnitRun {
  readonly unit: number;
  readonly parts: Buffer[];
  bytes: number;
  zeroTail: number;
}

/**
 * `units` (ascending) as runs: a unit that is a whole slot (no zero tail) and the one that follows
 * it go in one run, up to the channel buffer; a unit with a zero tail ends its run.
 */
function unitRuns(units: readonly UnitImage[], slotBytes: number): UnitRun[] {
  const runs: UnitRun[] = [];
  let open: UnitRun | undefined;
  let next = -1;
  for (const u of units) {
    if (open !== undefined && u.unit === next && open.bytes + u.data.length <= LINK_BATCH_BYTES) {
      open.parts.push(u.data);
      open.bytes += u.data.length;
      open.zeroTail = u.zeroTail;
    } else {
      open = { unit: u.unit, parts: [u.data], bytes: u.data.length, zeroTail: u.zeroTail };
      runs.push(open);
    }
    // Only a run that ends on a whole slot may go on: its bytes then end where the next unit starts.
    next = u.zeroTail === 0 && u.data.length === slotBytes ? u.unit + 1 : -1;
    if (next < 0) open = undefined;
  }
  return runs;
}

/** Path of the compiled worker, from dist/ whether this module runs compiled or from src/ (vitest). */
function workerScriptPath(): string {
  const here = fileURLToPath(import.meta.url);
  const compiledDir = here.endsWith('.ts') ? join(dirname(here), '..', '..', '..', 'dist', 'techniques', 'mirror') : dirname(here);
  const path = join(compiledDir, 'link-worker.js');
  if (!existsSync(path)) throw new UsageError(`Cannot start the mirror link worker: ${path} is missing (run npm run build)`);
  return path;
}

export class LinkChannel {
  // Set once.
  private readonly worker: Worker;
  private readonly words: Int32Array;
  private readonly data: Uint8Array;
  private readonly timeoutMs: number;
  // Main thread only.
  private seq = 0;
  /** Numbers each connect, so that an answer to an older one is told apart. */
  private epoch = 0;
  private readonly waiters = new Map<number, (event: FromWorker) => void>();

  constructor(onEvent: (event: FromWorker) => void, options: { timeoutMs?: number } = {}) {
    this.timeoutMs = options.timeoutMs ?? LINK_TIMEOUT_MS;
    const control = new SharedArrayBuffer(CHANNEL_WORDS * Int32Array.BYTES_PER_ELEMENT);
    const data = new SharedArrayBuffer(LINK_BATCH_BYTES);
    this.words = new Int32Array(control);
    this.data = new Uint8Array(data);
    this.worker = new Worker(workerScriptPath());
    this.worker.unref();
    this.worker.on('message', (message: FromWorker) => {
      this.waiters.get(message.epoch)?.(message);
      this.waiters.delete(message.epoch);
      onEvent(message);
    });
    this.worker.on('error', () => undefined);
    this.post({ kind: 'init', control, data, timeoutMs: this.timeoutMs });
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  /** Connects `link` telling the secondary `mode`; returns the epoch its answer carries. */
  connect(link: number, address: RemoteAddress, mode: MirrorLinkMode): number {
    this.epoch += 1;
    this.post({ kind: 'connect', link, address, mode, epoch: this.epoch });
    return this.epoch;
  }

  /** Resolves with the answer to the connect of `epoch`, or undefined after `timeoutMs`. */
  answer(epoch: number, timeoutMs: number): Promise<FromWorker | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(epoch);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(epoch, (event) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
  }

  drop(link: number): void {
    this.post({ kind: 'drop', link });
  }

  get busy(): boolean {
    return Atomics.load(this.words, CHANNEL_WORD.DONE_SEQ) !== Atomics.load(this.words, CHANNEL_WORD.REQUEST_SEQ);
  }

  /**
   * Writes units to every link in `linkMask`, blocking until done. Returns the mask of links that
   * failed (the caller marks their tracks invalid). Consecutive whole slots travel as one run (one
   * NBD write: a batch of the background copy is one request on the link, not one per unit);
   * `units` is split into channel-sized requests.
   */
  writeUnits(linkMask: number, slotBytes: number, units: readonly UnitImage[]): number {
    const runs = unitRuns(units, slotBytes);
    let failed = 0;
    let start = 0;
    // Bounded: each turn sends at least one run (a run is at most the channel buffer).
    while (start < runs.length) {
      let bytes = 0;
      let end = start;
      while (end < runs.length && end - start < LINK_BATCH_UNITS && bytes + (runs[end]?.bytes ?? 0) <= LINK_BATCH_BYTES) {
        bytes += runs[end]?.bytes ?? 0;
        end++;
      }
      assert(end > start, 'a run fits the channel buffer');
      failed |= this.request(linkMask & ~failed, slotBytes, runs.slice(start, end));
      start = end;
    }
    return failed;
  }

  private request(linkMask: number, slotBytes: number, runs: readonly UnitRun[]): number {
    if (linkMask === 0) return 0;
    if (this.busy) return linkMask;
    const w = this.words;
    let at = 0;
    runs.forEach((run, i) => {
      const d = CHANNEL_WORD.DESCRIPTORS + i * DESCRIPTOR_WORDS;
      w[d + DESCRIPTOR_FIELD.UNIT] = run.unit;
      w[d + DESCRIPTOR_FIELD.DATA_OFFSET] = at;
      // One copy of the run when its parts lie end to end (a batch read as one span), not one per unit.
      const span = spanOf(run.parts);
      this.data.set(span, at);
      at += span.length;
      w[d + DESCRIPTOR_FIELD.DATA_LENGTH] = run.bytes;
      w[d + DESCRIPTOR_FIELD.ZERO_TAIL] = run.zeroTail;
    });
    Atomics.store(w, CHANNEL_WORD.LINK_MASK, linkMask);
    Atomics.store(w, CHANNEL_WORD.UNIT_COUNT, runs.length);
    Atomics.store(w, CHANNEL_WORD.SLOT_BYTES, slotBytes);
    Atomics.store(w, CHANNEL_WORD.FAILED_MASK, 0);
    this.seq = (this.seq + 1) | 0;
    Atomics.store(w, CHANNEL_WORD.REQUEST_SEQ, this.seq);
    Atomics.notify(w, CHANNEL_WORD.REQUEST_SEQ);
    const deadline = Date.now() + this.timeoutMs + WORKER_GRACE_MS;
    // Bounded by the deadline.
    for (;;) {
      const done = Atomics.load(w, CHANNEL_WORD.DONE_SEQ);
      if (done === this.seq) return Atomics.load(w, CHANNEL_WORD.FAILED_MASK) & linkMask;
      const left = deadline - Date.now();
      if (left <= 0) return linkMask;
      Atomics.wait(w, CHANNEL_WORD.DONE_SEQ, done, left);
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
