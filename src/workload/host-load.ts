/**
 * A synthetic host writer on the thread that owns the volume: random writes at a fixed rate while a
 * session runs, for experiments, the demo and drills. Each write is a real host write through the
 * volume's interceptor chain, and its latency (copy-before-write included) is measured.
 *
 * Latency is reported twice. Raw: from when the write started. Corrected for coordinated
 * omission: from when it was due on the fixed-rate schedule (write k of a load started at t0 is
 * due at t0 + k / rate). The writer runs on the volume's thread, so a copy that blocks it delays
 * the writes behind it; raw timing never counts that wait, the corrected figure does. Both are
 * kept in HdrHistograms (latency-histogram.ts): 3 significant digits in bounded memory, however
 * long the load runs.
 *
 * CKD: a format write of one record of random length and content on a random track past the VTOC
 * (so the label and VTOC stay readable), which also changes the track's size. FBA: one random block.
 */
import { Prng } from '../base/prng.js';
import { UsageError } from '../errors/snaptape-error.js';
import type { Volume } from '../volume/volume.js';
import { readVtoc } from '../vtoc/vtoc-reader.js';
import { LatencyHistogram } from './latency-histogram.js';

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
  /** Raw latency (from the write's start), microseconds. */
  readonly latencyP50Us: number;
  readonly latencyP99Us: number;
  readonly latencyP999Us: number;
  readonly latencyMaxUs: number;
  /** Corrected latency (from when the write was due at the fixed rate), microseconds. */
  readonly correctedP50Us: number;
  readonly correctedP99Us: number;
  readonly correctedP999Us: number;
  readonly correctedMaxUs: number;
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
  private readonly raw = new LatencyHistogram();
  private readonly corrected = new LatencyHistogram();
  private readonly firstUnit: number;
  private timer: NodeJS.Timeout | undefined;
  private startedMs = 0;
  /** hrtime of start(); undefined while writes are driven by hand (then nothing is ever late). */
  private startedNs: bigint | undefined;
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
    this.startedNs = process.hrtime.bigint();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): HostLoadStats {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const raw = this.raw.percentiles();
    const corrected = this.corrected.percentiles();
    const seconds = Math.max(1e-3, (Date.now() - this.startedMs) / 1000);
    return {
      writes: this.writes,
      ratePerSecond: this.writes / seconds,
      latencyP50Us: raw.p50Us,
      latencyP99Us: raw.p99Us,
      latencyP999Us: raw.p999Us,
      latencyMaxUs: raw.maxUs,
      correctedP50Us: corrected.p50Us,
      correctedP99Us: corrected.p99Us,
      correctedP999Us: corrected.p999Us,
      correctedMaxUs: corrected.maxUs,
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
    // Due time of this write on the fixed-rate schedule; never after its actual start.
    const due = this.startedNs === undefined ? started : this.startedNs + BigInt(Math.round((this.writes / this.spec.ratePerSecond) * 1e9));
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
    const ended = process.hrtime.bigint();
    this.raw.record(Number(ended - started) / 1000);
    this.corrected.record(Number(ended - (due < started ? due : started)) / 1000);
    this.writes++;
  }
}
