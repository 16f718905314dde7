/**
 * An NBD export backed by a plain file: for tests, and for benchmarks against qemu-nbd.
 *
 * Invariants: the export size is the file's size when opened and never changes; every call
 * stays inside it (the server checks, and so does this class, as an assert); host failures come
 * out as typed errors (IoError, NoSpaceError) naming the file.
 */
import { closeSync, fstatSync, fsyncSync, openSync } from 'node:fs';
import { readFully, writeFully } from '../base/file-io.js';
import { assert, assertInteger } from '../base/assert.js';
import { translateIoError } from '../errors/io-error.js';
import { UsageError } from '../errors/snaptape-error.js';
import { ZERO_FILL_CHUNK_BYTES } from './nbd-constants.js';
import type { NbdExportBackend } from './nbd-backend.js';

export interface RawFileBackendOptions {
  readonly path: string;
  /** Export name; defaults to "". */
  readonly name?: string;
  readonly readOnly?: boolean;
}

export class RawFileBackend implements NbdExportBackend {
  // Set once.
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /** A plain file cannot punch holes from Node, so TRIM is not offered. */
  readonly canTrim = false;
  readonly path: string;
  // Main thread only.
  private fd: number | undefined;

  constructor(options: RawFileBackendOptions) {
    this.path = options.path;
    this.name = options.name ?? '';
    this.readOnly = options.readOnly ?? false;
    try {
      this.fd = openSync(this.path, this.readOnly ? 'r' : 'r+');
      this.sizeBytes = fstatSync(this.fd).size;
    } catch (cause) {
      throw translateIoError(cause, 'open raw export file', this.path);
    }
  }

  read(offsetBytes: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.readInto(offsetBytes, out);
    return out;
  }

  readInto(offsetBytes: number, into: Buffer): void {
    const fd = this.openFd('read');
    this.checkRange(offsetBytes, into.length);
    readFully(fd, into, offsetBytes, this.path, `export '${this.name}'`);
  }

  write(offsetBytes: number, data: Buffer): void {
    const fd = this.openFd('write');
    assert(!this.readOnly, 'write is not called on a read-only backend');
    this.checkRange(offsetBytes, data.length);
    writeFully(fd, data, offsetBytes, this.path, `export '${this.name}'`);
  }

  writeZeroes(offsetBytes: number, length: number): void {
    this.checkRange(offsetBytes, length);
    const zeroes = Buffer.alloc(Math.min(length, ZERO_FILL_CHUNK_BYTES));
    for (let done = 0; done < length; done += zeroes.length) {
      const step = Math.min(zeroes.length, length - done);
      this.write(offsetBytes + done, step === zeroes.length ? zeroes : zeroes.subarray(0, step));
    }
  }

  flush(): void {
    const fd = this.openFd('flush');
    if (!this.readOnly) this.io('flush', () => fsyncSync(fd));
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    this.io('close', () => closeSync(fd));
  }

  private openFd(action: string): number {
    if (this.fd === undefined) throw new UsageError(`Cannot ${action} export '${this.name}': ${this.path} is closed`, { path: this.path });
    return this.fd;
  }

  private checkRange(offsetBytes: number, length: number): void {
    assertInteger(offsetBytes, 'offsetBytes');
    assertInteger(length, 'length');
    assert(offsetBytes + length <= this.sizeBytes, `range ${offsetBytes}+${length} lies inside ${this.sizeBytes} bytes`);
  }

  private io<T>(action: string, run: () => T): T {
    try {
      return run();
    } catch (cause) {
      throw translateIoError(cause, `${action} export '${this.name}'`, this.path);
    }
  }
}
