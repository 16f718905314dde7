/**
 * The backup's update-status array on disk (`<tape>.session.bitmap`, one Int32 state per slot,
 * native-layout/track-state.md), kept durable by dm-era's rule: before a host write to a slot is
 * acknowledged, the file already says that slot's start-instant bytes are safe (on the tape, or in
 * the spool). So after a crash no slot is recorded PENDING whose source the host has changed, and
 * a resume copies exactly the slots still PENDING, from the unchanged source.
 *
 * - `mark` writes one slot's state in place (pwrite of 4 bytes), only when it differs from what the
 *   file holds, so a host write costs a syscall only the first time it reaches a slot;
 * - `touch` stamps the file's mtime before acknowledged host writes, at most every
 *   TOUCH_INTERVAL_MS: a source modified more than that (plus one write's length) after the last
 *   stamp was written by someone who bypassed the session after a crash, and `resume` refuses it;
 * - `sync` (a host flush) makes the file durable against power loss too; against a process crash,
 *   the page cache already is.
 * A slot whose old bytes are in the spool, not yet on the tape, is persisted as SPOOLED.
 */
import { closeSync, fstatSync, fsyncSync, futimesSync } from 'node:fs';
import { openRegularFile, writeFully } from '../../base/file-io.js';
import { translateIoError } from '../../errors/io-error.js';
import { UNIT_STATE } from '../../engine/track-state.js';

/** Longest time between two stamps while host writes go on (well inside backup-resume.ts's slack). */
export const TOUCH_INTERVAL_MS = 50;

/** Persisted only: the slot's start-instant bytes are in the spool (backup-spool.ts). */
export const PERSISTED_SPOOLED = 5;

export class DurableSlotBitmap {
  // Set once.
  readonly path: string;
  private readonly fd: number;
  // Main thread only.
  /** What the file is, in error messages ("the session bitmap", "the change-tracking map"). */
  private readonly what: string;
  private readonly known: Int32Array;
  private closed = false;
  private lastTouchMs = 0;

  private constructor(path: string, fd: number, slotCount: number, what: string) {
    this.path = path;
    this.fd = fd;
    this.what = what;
    this.known = new Int32Array(slotCount).fill(-1);
  }

  /** Creates (or replaces) the file with these states. */
  static create(path: string, states: Int32Array, what = SESSION_BITMAP): DurableSlotBitmap {
    const bitmap = new DurableSlotBitmap(path, open(path, 'create', what), states.length, what);
    bitmap.writeAll(states);
    return bitmap;
  }

  /** Reopens the file of an interrupted session (or a change-tracking map), whose states were read from it. */
  static reopen(path: string, states: Int32Array, what = SESSION_BITMAP): DurableSlotBitmap {
    const bitmap = new DurableSlotBitmap(path, open(path, 'reopen', what), states.length, what);
    bitmap.known.set(states);
    return bitmap;
  }

  /** The file's modification time (ms): the last instant the session vouched for the source. */
  get mtimeMs(): number {
    return fstatSync(this.fd).mtimeMs;
  }

  /** Rewrites every state (checkpoints); CLAIMED is stored as is and read back as PENDING. */
  writeAll(states: Int32Array): void {
    const bytes = new Uint8Array(states.buffer, states.byteOffset, states.byteLength);
    writeFully(this.fd, bytes, 0, this.path, this.what);
    this.known.set(states);
  }

  /** Persists one slot's state if the file does not hold it yet. */
  mark(slot: number, state: number): void {
    if (this.known[slot] === state) return;
    const word = new Int32Array([state]);
    writeFully(this.fd, new Uint8Array(word.buffer), slot * 4, this.path, this.what);
    this.known[slot] = state;
  }

  /** Marks a slot as safe if its state says so (COPIED, COPIED_OOO, or SPOOLED): the write hook. */
  markSafe(slot: number, state: number): void {
    if (state === UNIT_STATE.COPIED || state === UNIT_STATE.COPIED_OOO || state === PERSISTED_SPOOLED) this.mark(slot, state);
  }

  touch(): void {
    const now = Date.now();
    if (now - this.lastTouchMs < TOUCH_INTERVAL_MS) return;
    this.lastTouchMs = now;
    this.io(`stamp ${this.what}`, () => futimesSync(this.fd, now / 1000, now / 1000));
  }

  sync(): void {
    this.io(`sync ${this.what}`, () => fsyncSync(this.fd));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private io(action: string, run: () => unknown): void {
    try {
      run();
    } catch (error) {
      throw translateIoError(error, action, this.path);
    }
  }
}

const SESSION_BITMAP = 'the session bitmap';

/**
 * Opens the file for writing as a side file (openRegularFile): a regular file only, and a symbolic
 * link in its place refused, not followed, so a bitmap's writes never land in another file.
 */
function open(path: string, mode: 'create' | 'reopen', what: string): number {
  return openRegularFile(path, what, true, { noFollow: true, replace: mode === 'create' }).fd;
}
