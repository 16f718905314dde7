/**
 * How a long-running server process collects garbage: V8 marks on the thread that runs the
 * JavaScript, not on helper threads beside it.
 *
 * Why: every read from a socket that Node made lands in a fresh 64 KiB ArrayBuffer, so a server
 * that took 2.85 GB of NBD WRITEs allocated about 43,000 of them. V8 counts them as external
 * memory and starts a major collection every 64 MiB or so of it: about 60 in one `nbdcopy` of a
 * dense 3390-3. Each starts concurrent marking on V8's helper threads (4 of them on a 2-core
 * machine), and for a heap of 12 MB those spent 1.5-1.8 CPU-s in all over one copy, against 0.26
 * CPU-s when the same marking runs in incremental steps on the owning thread. The heap of a server
 * stays small (no cache of volume data lives in it), so the steps stay short. Since then the NBD
 * server reads its plain connections into reused slabs (export/read-slabs.ts), which took most of
 * those collections away; a TLS connection, the control API and HTTP still read into fresh memory.
 *
 * V8 reads the flag each time it starts marking, so it may be set once the process runs; it is
 * set before the server takes its first connection.
 */
import { setFlagsFromString } from 'node:v8';

let set = false;

/** Has V8 mark on the owning thread from now on, for the rest of the process. Idempotent. */
export function markOnOwningThread(): void {
  if (set) return;
  setFlagsFromString('--no-concurrent-marking');
  set = true;
}
