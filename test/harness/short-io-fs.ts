/**
 * A fault-injecting `node:fs` for one file: positioned reads and writes of a descriptor open on
 * `path` move at most `maxBytes` bytes per call (0: the write makes no progress), as a real kernel
 * may on a signal or a nearly full file system. Other files are untouched (the descriptor's file is
 * looked up in /proc/self/fd, so this runs on Linux). The wrappers are installed on
 * the `node:fs` module and published with `syncBuiltinESMExports`, so modules that imported the
 * functions by name see them too; `restore()` puts the real ones back.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename, dirname, join } from 'node:path';

export interface ShortIo {
  /** Calls of readSync / writeSync / writevSync (and of the pool's writev) made on the descriptor. */
  readonly calls: { read: number; write: number; writev: number };
  restore(): void;
}

type PositionedIo = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number;
type PositionedWritev = (fd: number, buffers: readonly Uint8Array[], position: number) => number;
type WritevCallback = (error: NodeJS.ErrnoException | null, bytes: number) => void;
type PooledWritev = (fd: number, buffers: readonly Uint8Array[], position: number, callback: WritevCallback) => void;

/** The path /proc/self/fd shows for `path`, also for a file not made yet (its folder resolved). */
function resolvedPath(path: string): string {
  return fs.existsSync(path) ? fs.realpathSync(path) : join(fs.realpathSync(dirname(path)), basename(path));
}

/** `maxBytes` Infinity: no fault, the calls on the file are only counted. */
export function shortIoOn(path: string, maxBytes: number): ShortIo {
  const target = resolvedPath(path);
  const isTarget = (f: number): boolean => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${f}`) === target;
    } catch {
      return false;
    }
  };
  const realRead = fs.readSync as unknown as PositionedIo;
  const realWrite = fs.writeSync as unknown as PositionedIo;
  const realWritev = fs.writevSync as unknown as PositionedWritev;
  const realPooledWritev = fs.writev as unknown as PooledWritev;
  const calls = { read: 0, write: 0, writev: 0 };
  const mutable = fs as unknown as Record<string, unknown>;
  mutable.readSync = (f: number, buffer: Uint8Array, offset: number, length: number, position: number): number => {
    if (!isTarget(f)) return realRead(f, buffer, offset, length, position);
    calls.read++;
    return realRead(f, buffer, offset, Math.min(length, maxBytes), position);
  };
  mutable.writeSync = (f: number, buffer: Uint8Array, offset: number, length: number, position: number): number => {
    if (!isTarget(f)) return realWrite(f, buffer, offset, length, position);
    calls.write++;
    return maxBytes === 0 ? 0 : realWrite(f, buffer, offset, Math.min(length, maxBytes), position);
  };
  mutable.writevSync = (f: number, buffers: readonly Uint8Array[], position: number): number => {
    if (!isTarget(f)) return realWritev(f, buffers, position);
    calls.writev++;
    const first = buffers[0];
    if (maxBytes === 0 || first === undefined) return 0;
    return realWrite(f, first, 0, Math.min(first.length, maxBytes), position);
  };
  // The pool's writev (file-io `writevFullyAsync`): the same short write, answered on a later turn.
  mutable.writev = (f: number, buffers: readonly Uint8Array[], position: number, callback: WritevCallback): void => {
    if (!isTarget(f)) {
      realPooledWritev(f, buffers, position, callback);
      return;
    }
    calls.writev++;
    const first = buffers[0];
    const n = maxBytes === 0 || first === undefined ? 0 : realWrite(f, first, 0, Math.min(first.length, maxBytes), position);
    setImmediate(() => callback(null, n));
  };
  syncBuiltinESMExports();
  return {
    calls,
    restore: () => {
      mutable.readSync = realRead;
      mutable.writeSync = realWrite;
      mutable.writevSync = realWritev;
      mutable.writev = realPooledWritev;
      syncBuiltinESMExports();
    },
  };
}
