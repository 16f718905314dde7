/**
 * Latency percentiles in bounded memory: an HdrHistogram of microseconds with 3 significant digits
 * (every figure within 0.1% of the exact one) over 1 µs .. 1 hour. A load may run for hours at
 * thousands of writes a second; a list of every sample would grow without bound, the histogram
 * stays under 100 KB.
 */
import type * as Hdr from 'hdr-histogram-js';
import { lazyPackage } from '../base/lazy-package.js';

/** Loaded by the first histogram: only a run under a load measures latencies. */
const hdr = lazyPackage<typeof Hdr>('hdr-histogram-js');

/** The longest latency tracked; a longer one is recorded as this. */
const HIGHEST_TRACKABLE_US = 3_600_000_000;

export interface LatencyPercentiles {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

export class LatencyHistogram {
  private readonly histogram = hdr().build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_TRACKABLE_US, numberOfSignificantValueDigits: 3 });

  /** Records one latency in microseconds (fractions round up: a write takes at least 1 µs). */
  record(us: number): void {
    this.histogram.recordValue(Math.min(HIGHEST_TRACKABLE_US, Math.max(1, Math.ceil(us))));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  get footprintBytes(): number {
    return this.histogram.estimatedFootprintInBytes;
  }

  percentiles(): LatencyPercentiles {
    if (this.histogram.totalCount === 0) return { p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
    return {
      p50Us: this.histogram.getValueAtPercentile(50),
      p99Us: this.histogram.getValueAtPercentile(99),
      p999Us: this.histogram.getValueAtPercentile(99.9),
      maxUs: this.histogram.maxValue,
    };
  }
}
