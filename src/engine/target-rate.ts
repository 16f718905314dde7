/**
 * A slow backup target, for experiments (`backup --target-mbps`): one device clock shared by every
 * thread that writes the target (the copy workers, the copy-before-write path, the spool drain).
 * Each write reserves the device for bytes / rate after whatever is queued before it, and its
 * writer waits until that reservation ends, so the target as a whole accepts at most the rate, and a
 * synchronous writer queues behind the others as it would on a real serial device.
 *
 * The clock is a BigInt64 in a SharedArrayBuffer: "busy until" in microseconds of wall-clock time
 * (Date.now() is the same in every thread), advanced with compareExchange.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface TargetRate {
  readonly buffer: SharedArrayBuffer;
  readonly bytesPerSecond: number;
}

export function createTargetRate(megabytesPerSecond: number): TargetRate {
  return { buffer: new SharedArrayBuffer(8), bytesPerSecond: megabytesPerSecond * 1e6 };
}

/** Reserves the device for `bytes`; returns how many ms the writer must wait for its transfer. */
export function reserveTarget(rate: TargetRate, bytes: number): number {
  const clock = new BigInt64Array(rate.buffer);
  const cost = BigInt(Math.round((bytes / rate.bytesPerSecond) * 1e6));
  // Bounded: a failed compareExchange means another writer reserved meanwhile; retry with its end.
  for (;;) {
    const now = BigInt(Date.now()) * 1000n;
    const busy = Atomics.load(clock, 0);
    const end = (busy > now ? busy : now) + cost;
    if (Atomics.compareExchange(clock, 0, busy, end) === busy) return Number(end - now) / 1000;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread until the device has taken `bytes` (a worker, or a synchronous host-write path). */
export function waitForTargetSync(rate: TargetRate | undefined, bytes: number): void {
  if (!rate) return;
  const ms = reserveTarget(rate, bytes);
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

/** Waits without blocking the event loop (the spool drain). */
export async function waitForTarget(rate: TargetRate | undefined, bytes: number): Promise<void> {
  if (!rate) return;
  const ms = reserveTarget(rate, bytes);
  if (ms > 0) await delay(ms);
}
