/**
 * The owning thread's side of the link worker (link-worker.ts): connect and drop remote links;
 * `writeUnits`, which blocks (Atomics.wait) until every addressed link has acknowledged the writes,
 * has failed, or has timed out. That is what makes an ONGOING host write "acknowledged only after
 * every connected secondary has it": the host write's afterWrite does not return before this does.
 * `sendUnits` is the background copy's: it puts a batch in the channel and returns a promise of its
 * answer, so that several batches are in flight (LINK_SLOTS requests, one per slot).
 *
 * Invariants:
 * - a slot is not written while the worker may still use it: its last request is served first, or
 *   (timed out on this side) the new request counts as failed on every addressed link;
 * - a request never overtakes an older one that writes the same bytes of the export: it waits
 *   until that one is served. The worker sends in order on one connection per link, but a server
 *   may run requests in flight in any order (NBD allows it), so a host write to a track whose
 *   background batch is still in flight must not be sent before that batch is answered;
 * - the background copy leaves a slot free, so a host write does not wait for one.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MirrorLinkMode } from '../../export/mirror-link-option.js';
import { assert } from '../../base/assert.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { spanOf } from '../../engine/unit-ports.js';
import {
  CHANNEL_WORD,
  CHANNEL_WORDS,
  DESCRIPTOR_FIELD,
  DESCRIPTOR_WORDS,
  nextRequestSeq,
  type FromWorker,
  type ToWorker,
  type RemoteAddress,
} from './link-channel-layout.js';
import { LINK_BATCH_BYTES, LINK_BATCH_UNITS, LINK_SLOTS, LINK_TIMEOUT_MS, WORKER_GRACE_MS } from './mirror-limits.js';

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

/** Atomics.waitAsync (Node 16+), which this project's TypeScript lib does not declare yet. */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs?: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** One request posted in a slot. */
interface PostedRequest {
  readonly seq: number;
  readonly slot: number;
  readonly linkMask: number;
  /** The bytes of the export it writes, [first, end). */
  readonly first: number;
  readonly end: number;
  /** After this the owning thread stops waiting: the request counts as failed on every link. */
  readonly deadline: number;
  /** Once served: the links that failed it, read as its DONE_SEQ is seen (before the slot can be reused). */
  failed?: number;
}

export class LinkChannel {
  // Set once.
  private readonly worker: Worker;
  private readonly words: Int32Array;
  private readonly data: Uint8Array;
  private readonly timeoutMs: number;
  // Main thread only.
  private seq = 0;
  private nextSlot = 0;
  /** The last request posted in each slot. */
  private readonly posted: Array<PostedRequest | undefined> = new Array<PostedRequest | undefined>(LINK_SLOTS).fill(undefined);
  private closed = false;
  /** Numbers each connect, so that an answer to an older one is told apart. */
  private epoch = 0;
  private readonly waiters = new Map<number, (event: FromWorker) => void>();

  constructor(onEvent: (event: FromWorker) => void, options: { timeoutMs?: number } = {}) {
    this.timeoutMs = options.timeoutMs ?? LINK_TIMEOUT_MS;
    const control = new SharedArrayBuffer(LINK_SLOTS * CHANNEL_WORDS * Int32Array.BYTES_PER_ELEMENT);
    const data = new SharedArrayBuffer(LINK_SLOTS * LINK_BATCH_BYTES);
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

  /**
   * Writes units to every link in `linkMask`, blocking until done. Returns the mask of links that
   * failed (the caller marks their tracks invalid). Consecutive whole slots travel as one run (one
   * NBD write: a batch of the background copy is one request on the link, not one per unit);
   * `units` is split into channel-sized requests.
   */
  writeUnits(linkMask: number, slotBytes: number, units: readonly UnitImage[]): number {
    let failed = 0;
    for (const runs of requestsOf(unitRuns(units, slotBytes))) {
      const mask = linkMask & ~failed;
      if (mask === 0) break;
      const request = this.postRequest(mask, slotBytes, runs);
      failed |= request === undefined ? mask : this.waitServed(request) ? this.failedOf(request) : mask;
    }
    return failed;
  }

  /**
   * As `writeUnits`, without waiting for the answer: the bytes are in the channel when it returns
   * (it blocks only for a slot still busy, which `ready` avoids), and the promise resolves with the
   * mask of links that failed, once every link has answered or the timeout has passed.
   */
  sendUnits(linkMask: number, slotBytes: number, units: readonly UnitImage[]): Promise<number> {
    let failed = 0;
    const posted: PostedRequest[] = [];
    for (const runs of requestsOf(unitRuns(units, slotBytes))) {
      const mask = linkMask & ~failed;
      if (mask === 0) break;
      const request = this.postRequest(mask, slotBytes, runs);
      if (request === undefined) failed |= mask;
      else posted.push(request);
    }
    return Promise.all(posted.map(async (r) => ((await this.whenServed(r)) ? this.failedOf(r) : r.linkMask))).then((masks) =>
      masks.reduce((all, m) => all | m, failed),
    );
  }

  /**
   * Undefined when the background copy may send another request at once; else a promise that
   * resolves when it may (or when the requests in its way time out). One slot stays free for host
   * writes: the next slot and the one after it must be served.
   */
  ready(): Promise<void> | undefined {
    const inTheWay = [this.posted[this.nextSlot], this.posted[(this.nextSlot + 1) % LINK_SLOTS]].filter(
      (r): r is PostedRequest => r !== undefined && !this.isServed(r) && !this.closed && Date.now() < r.deadline,
    );
    if (inTheWay.length === 0) return undefined;
    return Promise.all(inTheWay.map((r) => this.whenServed(r))).then(() => undefined);
  }

  /**
   * Where the next request's bytes go when they number `bytes`: a view of the next slot, for the
   * background copy to read a batch straight into, so that posting it copies nothing (the batch is
   * laid out as the request will be: its runs end to end from the slot's start). Undefined when the
   * slot's last request is not served yet (its bytes may still be on their way) or the bytes do not
   * fit. Valid only until the next request is posted, on this thread, with nothing posted between.
   */
  landingFor(bytes: number): Buffer | undefined {
    const last = this.posted[this.nextSlot];
    if (this.closed || bytes > LINK_BATCH_BYTES || (last !== undefined && !this.isServed(last))) return undefined;
    return Buffer.from(this.data.buffer, this.data.byteOffset + this.nextSlot * LINK_BATCH_BYTES, bytes);
  }

  /**
   * True once `r` is served. Its FAILED_MASK is read in the same step: the slot may be written for
   * the next request as soon as this thread has seen it served, so a later read could see that
   * request's mask instead (and take a failed batch for a sent one).
   */
  private isServed(r: PostedRequest): boolean {
    if (r.failed !== undefined) return true;
    const base = r.slot * CHANNEL_WORDS;
    if (Atomics.load(this.words, base + CHANNEL_WORD.DONE_SEQ) !== r.seq) return false;
    r.failed = Atomics.load(this.words, base + CHANNEL_WORD.FAILED_MASK) & r.linkMask;
    return true;
  }

  private failedOf(r: PostedRequest): number {
    return r.failed ?? r.linkMask;
  }

  /** Blocks until `r` is served (true) or its deadline passes (false). */
  private waitServed(r: PostedRequest): boolean {
    const at = r.slot * CHANNEL_WORDS + CHANNEL_WORD.DONE_SEQ;
    // Bounded by the deadline.
    for (;;) {
      const done = Atomics.load(this.words, at);
      if (this.isServed(r)) return true;
      const left = r.deadline - Date.now();
      if (left <= 0 || this.closed) return false;
      Atomics.wait(this.words, at, done, left);
    }
  }

  /** Resolves true once `r` is served, false once its deadline passes (or the channel closes). */
  private async whenServed(r: PostedRequest): Promise<boolean> {
    const at = r.slot * CHANNEL_WORDS + CHANNEL_WORD.DONE_SEQ;
    // Bounded by the deadline.
    for (;;) {
      const done = Atomics.load(this.words, at);
      if (this.isServed(r)) return true;
      const left = r.deadline - Date.now();
      if (left <= 0 || this.closed) return false;
      const wait = waitAsync(this.words, at, done, left);
      if (wait.async) await wait.value;
    }
  }

  /**
   * Puts one request in the next slot, after the older requests that write any of its bytes are
   * served; undefined (failed on every link) when one of those, or the slot's last request, is
   * still not served at its deadline.
   */
  private postRequest(linkMask: number, slotBytes: number, runs: readonly UnitRun[]): PostedRequest | undefined {
    if (this.closed) return undefined;
    const first = Math.min(...runs.map((r) => r.unit * slotBytes));
    const end = Math.max(...runs.map((r) => r.unit * slotBytes + r.bytes + r.zeroTail));
    const slot = this.nextSlot;
    for (const older of this.posted) {
      if (older === undefined || this.isServed(older)) continue;
      const overlaps = older.first < end && first < older.end;
      if ((overlaps || older.slot === slot) && !this.waitServed(older)) return undefined;
    }
    const w = this.words;
    const base = slot * CHANNEL_WORDS;
    const dataBase = slot * LINK_BATCH_BYTES;
    let at = 0;
    runs.forEach((run, i) => {
      const d = base + CHANNEL_WORD.DESCRIPTORS + i * DESCRIPTOR_WORDS;
      w[d + DESCRIPTOR_FIELD.UNIT] = run.unit;
      w[d + DESCRIPTOR_FIELD.DATA_OFFSET] = at;
      // One copy of the run when its parts lie end to end (a batch read as one span), not one per
      // unit; none when the batch was read straight into this slot (landingFor).
      const span = spanOf(run.parts);
      if (span.buffer !== this.data.buffer || span.byteOffset !== this.data.byteOffset + dataBase + at) this.data.set(span, dataBase + at);
      at += span.length;
      w[d + DESCRIPTOR_FIELD.DATA_LENGTH] = run.bytes;
      w[d + DESCRIPTOR_FIELD.ZERO_TAIL] = run.zeroTail;
    });
    Atomics.store(w, base + CHANNEL_WORD.LINK_MASK, linkMask);
    Atomics.store(w, base + CHANNEL_WORD.UNIT_COUNT, runs.length);
    Atomics.store(w, base + CHANNEL_WORD.SLOT_BYTES, slotBytes);
    Atomics.store(w, base + CHANNEL_WORD.FAILED_MASK, 0);
    this.seq = nextRequestSeq(this.seq);
    Atomics.store(w, base + CHANNEL_WORD.REQUEST_SEQ, this.seq);
    Atomics.notify(w, base + CHANNEL_WORD.REQUEST_SEQ);
    // The worker times a link out when it stops answering (link-worker.ts), so a request behind
    // others in flight may take a timeout for each of them: this side waits that long, and more.
    const ahead = this.posted.filter((r) => r !== undefined && !this.isServed(r)).length;
    const request = { seq: this.seq, slot, linkMask, first, end, deadline: Date.now() + this.timeoutMs * (1 + ahead) + WORKER_GRACE_MS };
    this.posted[slot] = request;
    this.nextSlot = (slot + 1) % LINK_SLOTS;
    return request;
  }

  async close(): Promise<void> {
    this.closed = true;
    // Wakes the background copy's waits: its requests in flight now count as failed.
    for (let slot = 0; slot < LINK_SLOTS; slot++) Atomics.notify(this.words, slot * CHANNEL_WORDS + CHANNEL_WORD.DONE_SEQ);
    await this.worker.terminate();
  }
}

/** Runs grouped into channel requests: each at most LINK_BATCH_UNITS descriptors and LINK_BATCH_BYTES. */
function requestsOf(runs: readonly UnitRun[]): UnitRun[][] {
  const requests: UnitRun[][] = [];
  let start = 0;
  // Bounded: each turn takes at least one run (a run is at most the channel buffer).
  while (start < runs.length) {
    let bytes = 0;
    let end = start;
    while (end < runs.length && end - start < LINK_BATCH_UNITS && bytes + (runs[end]?.bytes ?? 0) <= LINK_BATCH_BYTES) {
      bytes += runs[end]?.bytes ?? 0;
      end++;
    }
    assert(end > start, 'a run fits the channel buffer');
    requests.push(runs.slice(start, end));
    start = end;
  }
  return requests;
}
