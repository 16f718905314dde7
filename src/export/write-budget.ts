/**
 * The payload bytes of WRITEs in flight on all connections of one NBD server, against
 * SERVER_TOTAL_WRITE_BYTES_IN_FLIGHT: each connection counts its WRITEs in when it starts them and
 * out when they have landed, and asks `fits` before it starts one more while it has some in flight.
 */
import { assertInteger } from '../base/assert.js';

export class WriteBudget {
  // Set once.
  readonly maxBytes: number;
  // Main thread only.
  private usedBytes = 0;

  constructor(maxBytes: number) {
    assertInteger(maxBytes, 'maxBytes', 1);
    this.maxBytes = maxBytes;
  }

  /** Whether `bytes` more stay within the budget. */
  fits(bytes: number): boolean {
    return this.usedBytes + bytes <= this.maxBytes;
  }

  take(bytes: number): void {
    this.usedBytes += bytes;
  }

  give(bytes: number): void {
    this.usedBytes -= bytes;
  }

  get used(): number {
    return this.usedBytes;
  }
}
