/**
 * The host-write bitmap of a session: one byte per volume unit and a write counter, set from the
 * session's own `afterWrite` (tape-backup-session.ts), so the map costs no extra interceptor on the
 * write path and O(units written) per write (one for a track write). It only records; it never
 * fails a write. Read by the track-map sampler on the same (main) thread.
 */
import type { WriteRange } from '../volume/write-interceptor.js';

export class HostWriteRecorder {
  // Set once.
  readonly hostWritten: Uint8Array;
  // Main thread only.
  private writes = 0;

  constructor(unitCount: number) {
    this.hostWritten = new Uint8Array(unitCount);
  }

  get hostWrites(): number {
    return this.writes;
  }

  record(range: WriteRange): void {
    this.writes++;
    const end = Math.min(range.firstUnit + range.unitCount, this.hostWritten.length);
    for (let u = range.firstUnit; u < end; u++) this.hostWritten[u] = 1;
  }
}
