/**
 * The digest of a tape's elements (in the construction each UTL1 names) on a worker thread (hash-worker.ts), for a restore that writes what it
 * hashes: the tape is read into two windows in turn (double buffering); once this thread has
 * written a window's blocks, the window goes to the worker (transferred, with the byte ranges of
 * its blocks), and this thread reads and writes the next window while the worker hashes. A window
 * is read into again only once the worker has sent it back, and `digest` waits for every byte
 * posted, so the digest a restore checks is that of every block it wrote. A block that is not a
 * view into a window (joined from chunks, or decompressed) is copied, and hashed in its turn.
 *
 * Everything here is synchronous, as the restore is: this thread waits with Atomics.wait, and takes
 * a window back with receiveMessageOnPort. A worker that stops answering (it could not start, or it
 * died) is an IoError after STALL_MS without progress, not a hang.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { IoError, UsageError } from '../../errors/snaptape-error.js';
import { WINDOW_BYTES, type ReadWindows } from '../../tape/tape-reader.js';
import type { BlockHash } from './backup-tape.js';
import type { ElementDigestKind } from '../tape-backup/element-digest.js';
import {
  COPY_MARK,
  DIGEST_BYTES,
  DIGEST_OFFSET_BYTES,
  FAILURE_OFFSET_BYTES,
  HASH_CONTROL_BYTES,
  HASH_WORD,
  type HashWorkerData,
  type ToHashWorker,
  type WindowBack,
} from './hash-channel-layout.js';

/** How long the worker may make no progress before the restore gives up on it. */
const STALL_MS = 60_000;
/** Atomics.wait's slice, between checks of the stall deadline. */
const WAIT_SLICE_MS = 1_000;

/** Path of the compiled worker, from dist/ whether this module runs compiled or from src/ (vitest). */
function workerScriptPath(): string {
  const here = fileURLToPath(import.meta.url);
  const compiledDir = here.endsWith('.ts') ? join(dirname(here), '..', '..', '..', 'dist', 'techniques', 'restore') : dirname(here);
  const path = join(compiledDir, 'hash-worker.js');
  if (!existsSync(path)) throw new UsageError(`Cannot start the restore's hash worker: ${path} is missing (run npm run build)`);
  return path;
}

const busyWord = (window: 0 | 1): number => (window === 0 ? HASH_WORD.WINDOW0_BUSY : HASH_WORD.WINDOW1_BUSY);

export class BackgroundSha256 implements BlockHash, ReadWindows {
  // Set once.
  /** The tape, named in errors. */
  private readonly tapePath: string;
  private readonly worker: Worker;
  private readonly control: SharedArrayBuffer;
  private readonly words: Int32Array;
  /** Where the worker sends the windows back. */
  private readonly windowsBack: MessagePort;
  // Owning thread only.
  /** Each window while it is on this thread; undefined while the worker has it. */
  private readonly windowBuffers: [Buffer | undefined, Buffer | undefined];
  /** The window last handed to the reader, or -1 when it read into a buffer of its own. */
  private current: -1 | 0 | 1 = -1;
  /** (offset, length) pairs of the current window's blocks, not yet posted (COPY_MARK: the next copy). */
  private pending: number[] = [];
  private copies: Uint8Array[] = [];
  private digests = 0;
  private closed = false;

  constructor(tapePath: string) {
    this.tapePath = tapePath;
    this.control = new SharedArrayBuffer(HASH_CONTROL_BYTES);
    this.words = new Int32Array(this.control);
    this.windowBuffers = [Buffer.from(new ArrayBuffer(WINDOW_BYTES)), Buffer.from(new ArrayBuffer(WINDOW_BYTES))];
    const channel = new MessageChannel();
    this.windowsBack = channel.port1;
    const workerData: HashWorkerData = { control: this.control, windowsBack: channel.port2 };
    this.worker = new Worker(workerScriptPath(), { workerData, transferList: [channel.port2] });
    this.worker.unref();
    // A failure is told through the shared words; the event would only come once this thread is idle.
    this.worker.on('error', () => undefined);
  }

  get windows(): ReadWindows {
    return this;
  }

  /** The other window, once the worker has sent it back; a span too big for one gets a buffer of its own. */
  take(bytes: number): Buffer {
    this.flush();
    if (bytes > WINDOW_BYTES) {
      this.current = -1;
      return Buffer.allocUnsafe(bytes);
    }
    const next = this.current === 0 ? 1 : 0;
    this.current = next;
    return this.windowHere(next);
  }

  /** Starts an element's digest in construction `kind`: after every block posted before it. */
  begin(kind: ElementDigestKind): void {
    this.flush();
    this.post({ kind: 'begin', digest: kind });
  }

  update(block: Buffer): void {
    const current = this.current;
    if (current !== -1 && block.buffer === this.windowBuffers[current]?.buffer) {
      this.pending.push(block.byteOffset, block.length);
      return;
    }
    const copy = new Uint8Array(block.length);
    copy.set(block);
    if (current === -1) {
      this.post({ kind: 'bytes', data: copy }, [copy.buffer]);
      return;
    }
    this.pending.push(COPY_MARK, 0);
    this.copies.push(copy);
  }

  /** The hex digest of every block updated since `begin`, once the worker has hashed them all. */
  digest(): string {
    this.flush();
    this.post({ kind: 'digest' });
    this.digests += 1;
    this.waitUntil(HASH_WORD.DIGEST_SEQ, (seq) => seq >= this.digests, 'give the digest');
    return Buffer.from(new Uint8Array(this.control, DIGEST_OFFSET_BYTES, DIGEST_BYTES)).toString('hex');
  }

  /**
   * Starts an fdatasync of `path` on the worker, unless one is still in flight: the file's dirty
   * pages go to disk while the restore goes on, so that its closing fsync has little left to do.
   */
  writeback(path: string): void {
    if (Atomics.load(this.words, HASH_WORD.WRITEBACK_BUSY) !== 0) return;
    Atomics.add(this.words, HASH_WORD.WRITEBACK_BUSY, 1);
    this.post({ kind: 'writeback', path });
  }

  /** Waits for a writeback in flight (its file may be removed next), then stops the worker. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.waitUntil(HASH_WORD.WRITEBACK_BUSY, (busy) => busy === 0, 'finish a writeback');
    } catch {
      // A worker that failed or stalled is stopped all the same; what the restore was doing when
      // it closes (its result, or the error that ended it) is what the caller is told.
    } finally {
      this.windowsBack.close();
      void this.worker.terminate();
    }
  }

  /** Sends the current window, with its blocks' ranges, to the worker (a window of no block stays). */
  private flush(): void {
    const window = this.current;
    if (this.pending.length === 0 || window === -1) return;
    const buffer = this.windowBuffers[window] as Buffer;
    this.windowBuffers[window] = undefined;
    Atomics.add(this.words, busyWord(window), 1);
    const ranges = Uint32Array.from(this.pending);
    const copies = this.copies;
    this.pending = [];
    this.copies = [];
    this.post({ kind: 'window', window, buffer: buffer.buffer as ArrayBuffer, ranges, copies }, [
      buffer.buffer as ArrayBuffer,
      ranges.buffer,
      ...copies.map((c) => c.buffer as ArrayBuffer),
    ]);
  }

  /** Window `window`, taken back from the worker first if it has it. */
  private windowHere(window: 0 | 1): Buffer {
    const here = this.windowBuffers[window];
    if (here) return here;
    this.waitUntil(busyWord(window), (busy) => busy === 0, 'send a window back');
    // The worker sends a window back before it lowers its word: both are on the port by now.
    for (let back = receiveMessageOnPort(this.windowsBack); back; back = receiveMessageOnPort(this.windowsBack)) {
      const returned = back.message as WindowBack;
      this.windowBuffers[returned.window] = Buffer.from(returned.buffer);
    }
    const buffer = this.windowBuffers[window];
    if (!buffer) throw new IoError(`Cannot hash ${this.tapePath}: the hash worker did not send window ${window} back`, { path: this.tapePath });
    return buffer;
  }

  private post(message: ToHashWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  private waitUntil(word: number, done: (value: number) => boolean, what: string): void {
    let deadline = Date.now() + STALL_MS;
    for (;;) {
      this.throwIfFailed();
      const value = Atomics.load(this.words, word);
      if (done(value)) return;
      Atomics.wait(this.words, word, value, WAIT_SLICE_MS);
      if (Atomics.load(this.words, word) !== value) deadline = Date.now() + STALL_MS;
      else if (Date.now() > deadline)
        throw new IoError(`Cannot hash ${this.tapePath}: the hash worker did not ${what} within ${STALL_MS / 1000} s`, { path: this.tapePath });
    }
  }

  private throwIfFailed(): void {
    const bytes = Atomics.load(this.words, HASH_WORD.FAILURE_BYTES);
    if (bytes === 0) return;
    const text = Buffer.from(new Uint8Array(this.control, FAILURE_OFFSET_BYTES, bytes)).toString('utf8');
    throw new IoError(`Cannot hash ${this.tapePath}: the hash worker failed: ${text}`, { path: this.tapePath });
  }
}
