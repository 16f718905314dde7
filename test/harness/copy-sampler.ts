/**
 * Watches a copy's progress from a thread of its own: a worker reads the track-state array's
 * counters (copied in order, and its bytes) every millisecond and records each change with its
 * time, so the timeline of a copy is seen to about a millisecond whichever thread copies (the
 * owning thread included, which cannot time itself while it sleeps in a pause).
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { HEADER_BYTES, WORD } from '../../src/engine/track-state.js';

export interface CopySample {
  /** ms since the epoch */
  readonly atMs: number;
  readonly copied: number;
  readonly bytes: number;
}

const SAMPLER = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const control = new Int32Array(workerData.control);
parentPort.postMessage('ready');
// Word 0: 1 once the state buffer was posted on the port; word 1: 1 to stop.
while (Atomics.load(control, 0) === 0) Atomics.wait(control, 0, 0, 1);
const buffer = receiveMessageOnPort(workerData.port).message;
const words = new Int32Array(buffer, 16, (workerData.headerBytes - 16) / 4);
const big = new BigInt64Array(buffer, 0, 2);
const samples = [];
let last = -1;
while (Atomics.load(control, 1) === 0) {
  const copied = Atomics.load(words, workerData.copiedWord);
  if (copied !== last) {
    last = copied;
    samples.push({ atMs: performance.timeOrigin + performance.now(), copied, bytes: Number(Atomics.load(big, 0)) });
  }
  Atomics.wait(control, 1, 0, 1);
}
parentPort.postMessage(samples);
`;

export class CopySampler {
  private readonly worker: Worker;
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  private readonly channel = new MessageChannel();
  private readonly samples: Promise<CopySample[]>;
  private readonly ready: Promise<void>;

  private constructor() {
    this.worker = new Worker(SAMPLER, {
      eval: true,
      workerData: { control: this.control.buffer, port: this.channel.port2, headerBytes: HEADER_BYTES, copiedWord: WORD.copiedInOrder },
      transferList: [this.channel.port2],
    });
    let first = true;
    let readyResolve: () => void = () => undefined;
    this.ready = new Promise((resolve) => {
      readyResolve = resolve;
    });
    this.samples = new Promise((resolve, reject) => {
      this.worker.on('message', (message: 'ready' | CopySample[]) => {
        if (first && message === 'ready') {
          first = false;
          readyResolve();
        } else resolve(message as CopySample[]);
      });
      this.worker.once('error', reject);
    });
  }

  /** A sampler thread, running and waiting for the state buffer to watch. */
  static async start(): Promise<CopySampler> {
    const sampler = new CopySampler();
    await sampler.ready;
    return sampler;
  }

  /** Starts watching at once (call right after the copy starts). */
  watch(stateBuffer: SharedArrayBuffer): void {
    this.channel.port1.postMessage(stateBuffer);
    Atomics.store(this.control, 0, 1);
    Atomics.notify(this.control, 0);
  }

  async stop(): Promise<CopySample[]> {
    Atomics.store(this.control, 1, 1);
    Atomics.notify(this.control, 1);
    const samples = await this.samples;
    await this.worker.terminate();
    this.channel.port1.close();
    return samples;
  }
}

/** The stalls of a timeline: a gap of at least `minMs` between two changes, with the count before it. */
export function stallsOf(samples: readonly CopySample[], minMs: number): Array<{ copiedBefore: number; ms: number }> {
  const stalls: Array<{ copiedBefore: number; ms: number }> = [];
  for (let i = 1; i < samples.length; i++) {
    const ms = (samples[i] as CopySample).atMs - (samples[i - 1] as CopySample).atMs;
    if (ms >= minMs) stalls.push({ copiedBefore: (samples[i - 1] as CopySample).copied, ms });
  }
  return stalls;
}
