/**
 * The hash worker of a restore (hash-channel-layout.ts): each element's digest (in the construction
 * its UTL1 names: tape-backup/element-digest.ts) of the tape's windows on a thread
 * of its own, each sent back once hashed, so that hashing overlaps the owning thread's reads and writes, and the target's
 * writeback (an fdatasync started while the restore goes on, so that its closing fsync is short).
 * A writeback's failure is not reported here: the restore's own fsync at the end reports it.
 */
import { close, fdatasync, open } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import {
  COPY_MARK,
  DIGEST_BYTES,
  DIGEST_OFFSET_BYTES,
  FAILURE_MAX_BYTES,
  FAILURE_OFFSET_BYTES,
  HASH_WORD,
  type HashWorkerData,
  type ToHashWorker,
  type WindowBack,
} from './hash-channel-layout.js';
import { ElementHasher } from '../tape-backup/element-digest.js';

const port = parentPort;
if (port === null) throw new Error('hash-worker runs as a worker thread');
const data = workerData as HashWorkerData;
const words = new Int32Array(data.control);
let hash = new ElementHasher('BLKSHA256');

function lower(word: number): void {
  Atomics.sub(words, word, 1);
  Atomics.notify(words, word);
}

function writeback(path: string): void {
  open(path, 'r', (openError, fd) => {
    if (openError) {
      lower(HASH_WORD.WRITEBACK_BUSY);
      return;
    }
    fdatasync(fd, () => close(fd, () => lower(HASH_WORD.WRITEBACK_BUSY)));
  });
}

function fail(error: unknown): void {
  const text = Buffer.from(error instanceof Error ? error.message : String(error)).subarray(0, FAILURE_MAX_BYTES);
  new Uint8Array(data.control, FAILURE_OFFSET_BYTES, FAILURE_MAX_BYTES).set(text);
  Atomics.store(words, HASH_WORD.FAILURE_BYTES, Math.max(1, text.length));
  for (const word of Object.values(HASH_WORD)) Atomics.notify(words, word);
}

port.on('message', (message: ToHashWorker) => {
  if (Atomics.load(words, HASH_WORD.FAILURE_BYTES) !== 0) return;
  try {
    switch (message.kind) {
      case 'begin':
        hash = new ElementHasher(message.digest);
        break;
      case 'window': {
        const window = new Uint8Array(message.buffer);
        const ranges = message.ranges;
        let copy = 0;
        for (let i = 0; i < ranges.length; i += 2) {
          const offset = ranges[i] as number;
          hash.update(offset === COPY_MARK ? (message.copies[copy++] as Uint8Array) : window.subarray(offset, offset + (ranges[i + 1] as number)));
        }
        // Back first: once the word is lowered, the owning thread finds the window on its port.
        const back: WindowBack = { window: message.window, buffer: message.buffer };
        data.windowsBack.postMessage(back, [message.buffer]);
        lower(message.window === 0 ? HASH_WORD.WINDOW0_BUSY : HASH_WORD.WINDOW1_BUSY);
        break;
      }
      case 'bytes':
        hash.update(message.data);
        break;
      case 'digest':
        new Uint8Array(data.control, DIGEST_OFFSET_BYTES, DIGEST_BYTES).set(hash.digest());
        Atomics.add(words, HASH_WORD.DIGEST_SEQ, 1);
        Atomics.notify(words, HASH_WORD.DIGEST_SEQ);
        break;
      case 'writeback':
        writeback(message.path);
        break;
    }
  } catch (error) {
    fail(error);
  }
});
