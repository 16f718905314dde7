/**
 * A synthetic host writer on the thread that owns the volume: random writes at a fixed rate while a
 * session runs, for experiments, the demo and drills. Each write is a real host write through the
 * volume's interceptor chain, and its latency (copy-before-write included) is measured.
 *
 * CKD: a format write of one record of random length and content on a random track past the VTOC
 * (so the label and VTOC stay readable), which also changes the track's size. FBA: one random block.
 */
import { Prng } from '../base/prng.js';
import { UsageError } from '../errors/snaptape-error.js';
import type { Volume } from '../volume/volume.js';
import { readVtoc } from '../vtoc/vtoc-reader.js';

/** Timer period of the writer; each tick catches up with the rate. */
const TICK_MS = 2;
/** Bound on writes in one tick, so a stalled loop cannot burst without limit. */
const MAX_WRITES_PER_TICK = 200;
/** Largest record a load write puts on a track. */
const MAX_LOAD_RECORD_BYTES = 8192;

export interface HostLoadSpec {
  readonly kind: 'random';
  readonly ratePerSecond: number;
}

/** Parses a synthetic host load such as "random:1000" (writes per second). Throws UsageError for anything else. */
export function parseLoadSpec(text: string): HostLoadSpec {
  const match = /^random:(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!match || Number(match[1]) <= 0) throw new UsageError(`Cannot use load "${text}": expected random:RATE (writes per second, > 0)`);
  return { kind: 'random', ratePerSecond: Number(match[1]) };
}

export interface HostLoadStats {
  readonly writes: number;
  readonly ratePerSecond: number;
  readonly latencyP50Us: number;
  readonly latencyP99Us: number;
  readonly latencyMaxUs: number;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

function firstLoadTrack(volume: Volume): number {
  try {
    const run = readVtoc(volume).vtocRun;
    return run.firstTrack + run.trackCount;
  } catch {
    return 1;
  }
}

export class HostLoad {
  private readonly volume: Volume;
  private readonly spec: HostLoadSpec;
  private readonly prng: Prng;
  private readonly latenciesUs: number[] = [];
  private readonly firstUnit: number;
  private timer: NodeJS.Timeout | undefined;
  private startedMs = 0;
  private writes = 0;
  private errors = 0;
  /** Called with each written unit; tests use it to aim at units being copied. */
  pickUnit: ((prng: Prng) => number) | undefined;

  constructor(volume: Volume, spec: HostLoadSpec, seed: number) {
    this.volume = volume;
    this.spec = spec;
    this.prng = new Prng(seed);
    this.firstUnit = volume.geometry.kind === 'ckd' ? firstLoadTrack(volume) : 2;
    if (this.firstUnit >= volume.unitCount) throw new UsageError(`Cannot run a load on ${volume.path}: it has no units past its label and VTOC`);
  }

  start(): void {
    this.startedMs = Date.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): HostLoadStats {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const sorted = Float64Array.from(this.latenciesUs).sort();
    const seconds = Math.max(1e-3, (Date.now() - this.startedMs) / 1000);
    return {
      writes: this.writes,
      ratePerSecond: this.writes / seconds,
      latencyP50Us: percentile(sorted, 50),
      latencyP99Us: percentile(sorted, 99),
      latencyMaxUs: sorted.length ? (sorted[sorted.length - 1] as number) : 0,
    };
  }

  get writeErrors(): number {
    return this.errors;
  }

  private tick(): void {
    const due = Math.floor(((Date.now() - this.startedMs) / 1000) * this.spec.ratePerSecond) - this.writes;
    for (let i = 0; i < Math.min(due, MAX_WRITES_PER_TICK); i++) this.writeOne();
  }

  /** One host write; public so that tests can drive the load deterministically. */
  writeOne(): void {
    const unit = this.pickUnit ? this.pickUnit(this.prng) : this.firstUnit + this.prng.below(this.volume.unitCount - this.firstUnit);
    const started = process.hrtime.bigint();
    try {
      if (this.volume.geometry.kind === 'ckd') {
        const data = Buffer.alloc(1 + this.prng.below(MAX_LOAD_RECORD_BYTES));
        this.prng.fill(data);
        this.volume.writeTrackRecords(unit, [{ key: Buffer.alloc(0), data }]);
      } else {
        const data = Buffer.alloc(512);
        this.prng.fill(data);
        this.volume.writeBlocks(unit, data);
      }
    } catch {
      this.errors++;
    }
    this.latenciesUs.push(Number(process.hrtime.bigint() - started) / 1000);
    this.writes++;
  }
}
