/**
 * What a copy worker is given: a run of consecutive blocks of one tape file, each with the state
 * slot it belongs to, where its bytes are in the source, and where its header goes on the tape.
 * Plain data with typed arrays, so that posting a task to a worker thread is a cheap clone.
 */
import type { ErrorData } from '../errors/snaptape-error.js';
import type { TargetRate } from './target-rate.js';

export interface CopyBlockRun {
  /** State slot of each block. */
  readonly units: Int32Array;
  /** Byte offset of each block's bytes in the source image. */
  readonly sourceOffsets: Float64Array;
  /** Length of each block (its bytes in the source, its payload on the tape). */
  readonly lengths: Int32Array;
  /** Byte offset of each block's 6-byte header on the tape. */
  readonly tapeOffsets: Float64Array;
  /** prvlen of the first block: the length of the chunk just before it on the tape. */
  readonly firstPreviousBytes: number;
}

export interface CopyPacing {
  /** Cap for this worker, bytes per second; 0 for none. */
  readonly bytesPerSecond: number;
  /** Pause after this many consecutive copies; 0 for never. */
  readonly pauseAfterCopies: number;
  readonly pauseMs: number;
}

export interface CopyTask {
  readonly stateBuffer: SharedArrayBuffer;
  readonly sourcePath: string;
  readonly tapePath: string;
  readonly blocks: CopyBlockRun;
  readonly pacing: CopyPacing;
  /** A target slowed for experiments (`--target-mbps`): each tape write waits for its transfer. */
  readonly targetRate?: TargetRate;
}

export interface CopyTaskResult {
  readonly copied: number;
  readonly skipped: number;
  readonly bytes: number;
  readonly error?: ErrorData;
}
