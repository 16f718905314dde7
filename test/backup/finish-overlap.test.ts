/**
 * Layer: scenario (issue 22, point 2). The end of a backup overlaps its copy:
 * - each element's SHA-256 (UTL1, the digest it always was) is made by a pass beside the copy that
 *   reads the tape back in tape order and checks every data block's header against the plan; a
 *   throttled copy shows the pass hashing while the copy runs, not after it;
 * - a damaged data block header is found by that pass, naming the block and its byte offset, and a
 *   pass whose copy stops returns without waiting for blocks that will not come;
 * - the tape is flushed in steps during the copy;
 * - the verify a backup promises stays whole: a one-byte change anywhere on a new tape (a data
 *   block, a chunk header, a label, trailers included) fails `verify`, naming where.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup, type BackupRun } from '../../src/api/backup-api.js';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';
import { SteppedWriteback } from '../../src/base/stepped-writeback.js';
import { TrackStateArray, UNIT_STATE } from '../../src/engine/track-state.js';
import { verifyBackupTape } from '../../src/techniques/restore/backup-tape.js';
import { digestTape, newDigestWords, stopTapeDigest } from '../../src/techniques/tape-backup/tape-order-digest.js';
import type { TapeFileSpec } from '../../src/tape/tape-file-spec.js';
import { planTape } from '../../src/tape/tape-plan.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
let throttled: BackupRun;
let tape: string;
/** A backup with a copy worker on every core: the pass has no core of its own. */
let everyCore: BackupRun;

/** Every entry of an AWSTAPE file by an independent walk: kind, header offset, payload length. */
function walk(path: string): Array<{ kind: 'block' | 'tapemark'; offset: number; length: number }> {
  const bytes = readFileSync(path);
  const entries: Array<{ kind: 'block' | 'tapemark'; offset: number; length: number }> = [];
  for (let offset = 0; offset + 6 <= bytes.length;) {
    const length = bytes.readUInt16LE(offset);
    entries.push({ kind: (bytes[offset + 4] as number) & 0x40 ? 'tapemark' : 'block', offset, length });
    offset += 6 + length;
  }
  return entries;
}

beforeAll(async () => {
  dir = makeTempDir('snaptape-finish-overlap-');
  const volume = makeFilledVolume(dir.path, { cylinders: 4, seed: 22, name: 'source.ckd' });
  tape = at('throttled.aws');
  try {
    // About 3 MB at 2 MB/s: the copy lasts over a second, long enough to see the pass keep up.
    // One worker fewer than the cores, so the pass has a core of its own (CI has 2).
    throttled = await runBackup(volume, { tapePath: tape, workers: Math.max(1, availableParallelism() - 1), throttleMbps: 2 });
    everyCore = await runBackup(volume, { tapePath: at('every-core.aws'), workers: availableParallelism(), throttleMbps: 2 });
  } finally {
    volume.close();
  }
}, 120_000);
afterAll(() => dir.cleanup());

describe('the digests are made beside the copy', () => {
  it("records UTL1's digest: the SHA-256 of the element's payloads, by an independent walk", () => {
    const entries = walk(tape);
    const bytes = readFileSync(tape);
    const firstTapemark = entries.findIndex((e) => e.kind === 'tapemark');
    const dataEnd = entries.findIndex((e, i) => i > firstTapemark && e.kind === 'tapemark');
    const hash = createHash('sha256');
    for (const e of entries.slice(firstTapemark + 1, dataEnd)) hash.update(bytes.subarray(e.offset + 6, e.offset + 6 + e.length));
    expect(throttled.summary.elements[0]?.sha256).toBe(hash.digest('hex'));
    expect(verifyBackupTape(tape).ok).toBe(true);
  });

  it('hashes while the copy runs: most blocks are hashed when the copy ends, and little is left after it', () => {
    const blocks = throttled.summary.elements[0]?.blocks as number;
    const phases = throttled.summary.phases;
    expect(phases, 'the summary reports the phases').toBeDefined();
    expect(phases?.blocksDigestedDuringCopy).toBeGreaterThanOrEqual(Math.floor(blocks / 2));
    expect(phases?.digestWaitSeconds).toBeLessThan(phases?.copySeconds as number);
  });

  it('waits for the copy where every core has a copy worker: a thread more would slow the copy and the host', () => {
    const blocks = everyCore.summary.elements[0]?.blocks as number;
    const phases = everyCore.summary.phases;
    // Only the last batches of the worker that finishes first can overlap the pass.
    expect(phases?.blocksDigestedDuringCopy).toBeLessThan(Math.floor(blocks / 2));
    expect(verifyBackupTape(at('every-core.aws')).ok).toBe(true);
  });

  it('finds a damaged data block header, naming the block and its byte offset, and stops when told', () => {
    // A two-file plan of small blocks, written by hand: the pass reads only what the plan says.
    const files: TapeFileSpec[] = [
      { dsname: 'A', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 300, dataBlockLengths: [100, 200, 300] },
      { dsname: 'B', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 60, dataBlockLengths: [50, 60] },
    ];
    const plan = planTape({ volser: 'PASS01', labelled: false, files });
    const path = at('pass.aws');
    const bytes = Buffer.alloc(plan.sizeBytes);
    for (const file of plan.files) {
      file.spec.dataBlockLengths.forEach((length, j) => {
        const offset = file.dataOffsetsBytes[j] as number;
        bytes.writeUInt16LE(length, offset);
        bytes.writeUInt16LE(j === 0 ? 0 : (file.spec.dataBlockLengths[j - 1] as number), offset + 2);
        bytes[offset + 4] = 0xa0;
        bytes.fill(j + 1, offset + 6, offset + 6 + length);
      });
    }
    writeFileSync(path, bytes);
    const states = TrackStateArray.create(5);
    for (let u = 0; u < 5; u++) states.restore(u, UNIT_STATE.COPIED);
    const task = { tapePath: path, plan, baseOffsetBytes: 0, stateBuffer: states.buffer, words: newDigestWords() };
    const good = digestTape(task);
    expect(good.error).toBeUndefined();
    expect(good.digests?.[1]).toBe(
      createHash('sha256')
        .update(Buffer.concat([Buffer.alloc(50, 1), Buffer.alloc(60, 2)]))
        .digest('hex'),
    );
    const damagedAt = plan.files[0]?.dataOffsetsBytes[2] as number;
    bytes[damagedAt + 2] = (bytes[damagedAt + 2] as number) ^ 0x01;
    writeFileSync(path, bytes);
    const bad = digestTape(task);
    expect(bad.digests).toBeUndefined();
    expect(bad.error?.message).toContain(`block 2 at byte offset ${damagedAt}`);
    // Blocks that never reach the tape: the pass ends at the stop word instead of waiting on.
    const pending = TrackStateArray.create(5);
    const words = newDigestWords();
    stopTapeDigest(words);
    const stopped = digestTape({ ...task, stateBuffer: pending.buffer, words });
    expect(stopped.digests).toBeUndefined();
    expect(stopped.error).toBeUndefined();
  });
});

describe('the tape is flushed in steps', () => {
  it('starts one flush per step of bytes copied, one at a time', async () => {
    const flush = new SteppedWriteback(tape, 1024);
    flush.reached(1000);
    expect(flush.flushes).toBe(0);
    flush.reached(1024);
    flush.reached(4096);
    expect(flush.flushes, 'a second step waits for the flush in flight').toBe(1);
    await flush.close();
    flush.reached(1 << 20);
    expect(flush.flushes, 'none after close').toBe(1);
  });
});

describe('every byte of a new tape is covered by what verify checks', () => {
  /** verify's outcome for the tape with byte `i` changed: where it failed, or "passed". */
  function verifyWithByteChanged(original: Buffer, i: number): string {
    const copy = Buffer.from(original);
    copy[i] = (copy[i] as number) ^ 0x01;
    const path = at('changed.aws');
    writeFileSync(path, copy);
    try {
      const report = verifyBackupTape(path);
      const badElement = report.elements.find((e) => !e.ok);
      const badLabels = report.labels.find((l) => !l.ok);
      if (badElement) return `element ${badElement.name}`;
      if (badLabels) return `labels of ${badLabels.name}${badLabels.trailers ? `: ${badLabels.trailers}` : ''}`;
      return 'passed';
    } catch (error) {
      if (error instanceof SnaptapeError) return error.message;
      throw error;
    }
  }

  it('a one-byte change in any header, any label or a data block fails verify, naming where', () => {
    const original = readFileSync(tape);
    const entries = walk(tape);
    const positions: number[] = [];
    entries.forEach((e, b) => {
      for (let i = 0; i < 6; i++) positions.push(e.offset + i);
      // Labels are 80-byte blocks: every byte of each; data blocks: their first and last byte.
      if (e.kind === 'block' && e.length === 80) for (let i = 0; i < 80; i++) positions.push(e.offset + 6 + i);
      else if (e.kind === 'block' && b % 5 === 0) positions.push(e.offset + 6, e.offset + 5 + e.length);
    });
    const passed: string[] = [];
    for (const i of positions) {
      const outcome = verifyWithByteChanged(original, i);
      if (outcome === 'passed') passed.push(`byte ${i}`);
      else expect(outcome, `byte ${i}`).toMatch(/block \d+|element FULLVOLUME|labels of FULLVOLUME|file \d+/);
    }
    expect(passed, 'changes that verify did not see').toEqual([]);
  });

  it('verify names a changed EOF1 (block and column), and a damaged UTL2, on one line', () => {
    const original = readFileSync(tape);
    const labels = walk(tape).filter((e) => e.kind === 'block' && e.length === 80);
    const eof1 = labels.find((e) => original.subarray(e.offset + 6, e.offset + 10).equals(Buffer.from([0xc5, 0xd6, 0xc6, 0xf1])));
    const utl2 = labels.find((e) => original.subarray(e.offset + 6, e.offset + 10).equals(Buffer.from([0xe4, 0xe3, 0xd3, 0xf2])));
    expect(eof1 && utl2).toBeTruthy();
    for (const [name, byte, message] of [
      [
        'eof1.aws',
        (eof1?.offset as number) + 6 + 30,
        /the trailer labels of FULLVOLUME\.\w+ do not repeat its header labels: EOF1 \(block \d+, byte offset \d+\) does not repeat HDR1 at column 31/,
      ],
      // Column 7 is in the key word LABELSHA256=: the label no longer holds a digest at all.
      ['utl2.aws', (utl2?.offset as number) + 6 + 6, /file 1: UTL2 holds no label SHA-256/],
    ] as const) {
      const copy = Buffer.from(original);
      copy[byte] = (copy[byte] as number) ^ 0x01;
      writeFileSync(at(name), copy);
      const r = runSnaptape(['verify', at(name)]);
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      // The report still comes first; its line for the element says what is wrong.
      if (name === 'eof1.aws') expect(r.stdout).toMatch(/BAD FULLVOLUME\.\w+ +trailer labels: EOF1 \(block \d+/);
    }
  });
});
