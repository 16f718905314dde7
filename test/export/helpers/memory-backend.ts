/**
 * An in-memory NBD backend for tests: a plain Buffer, optional TRIM, and an injectable fault
 * (the Nth write throws a typed error, or a plain Error to model a backend bug).
 */
import { IoError, NoSpaceError } from '../../../src/errors/snaptape-error.js';
import type { NbdExportBackend } from '../../../src/export/nbd-backend.js';

export interface MemoryBackendOptions {
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly?: boolean;
  readonly canTrim?: boolean;
  /** 1-based write number that fails, and how. */
  readonly failWrite?: { readonly nth: number; readonly kind: 'io' | 'no-space' | 'bug' };
  readonly fill?: (data: Buffer) => void;
}

export class MemoryBackend implements NbdExportBackend {
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly canTrim: boolean;
  readonly data: Buffer;
  writeCount = 0;
  flushCount = 0;
  /** Every backend call of any kind, for tests that measure how much work reached the backend. */
  callCount = 0;
  private readonly failWrite: MemoryBackendOptions['failWrite'];

  constructor(options: MemoryBackendOptions) {
    this.name = options.name;
    this.sizeBytes = options.sizeBytes;
    this.readOnly = options.readOnly ?? false;
    this.canTrim = options.canTrim ?? false;
    this.data = Buffer.alloc(options.sizeBytes);
    options.fill?.(this.data);
    this.failWrite = options.failWrite;
  }

  read(offsetBytes: number, length: number): Buffer {
    this.callCount++;
    return Buffer.from(this.data.subarray(offsetBytes, offsetBytes + length));
  }

  write(offsetBytes: number, data: Buffer): void {
    this.writeCount++;
    this.callCount++;
    if (this.failWrite !== undefined && this.failWrite.nth === this.writeCount) {
      if (this.failWrite.kind === 'io') throw new IoError(`Cannot write export '${this.name}': injected fault at offset ${offsetBytes}`);
      if (this.failWrite.kind === 'no-space') throw new NoSpaceError(`Cannot write export '${this.name}': injected no space at offset ${offsetBytes}`);
      throw new Error('injected backend bug');
    }
    data.copy(this.data, offsetBytes);
  }

  writeZeroes(offsetBytes: number, length: number): void {
    this.callCount++;
    this.data.fill(0, offsetBytes, offsetBytes + length);
  }

  trim(offsetBytes: number, length: number): void {
    this.callCount++;
    // Trimmed bytes read back as zero here, which is one of the results the spec allows.
    this.data.fill(0, offsetBytes, offsetBytes + length);
  }

  flush(): void {
    this.flushCount++;
    this.callCount++;
  }
}
