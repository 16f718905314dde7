/**
 * Layer: scenario (issue 22, point 2). The end of a backup overlaps its copy:
 * - each element's digest is made beside the copy by the digest pass, which reads every data block
 *   back and checks its header (test/backup/block-digest.test.ts); the finish folds the digests and
 *   reads back the labels' and tapemarks' headers at their planned offsets: a damaged data block
 *   header is found, naming the block and its byte offset;
 * - the tape is flushed in steps during the copy;
 * - the verify a backup promises stays whole: a one-byte change anywhere on a new tape (a data
 *   block, a chunk header, a label, trailers included) fails `verify`, naming where.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/api/backup-api.js';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';
import { SteppedWriteback } from '../../src/base/stepped-writeback.js';
import { verifyBackupTape } from '../../src/techniques/restore/backup-tape.js';
import { writeTapeFrame } from '../../src/tape/mapped-tape-writer.js';
import type { TapeFileSpec } from '../../src/tape/tape-file-spec.js';
import { planTape } from '../../src/tape/tape-plan.js';
import { CONTROL, TrackStateArray, UNIT_STATE } from '../../src/engine/track-state.js';
import { digestBlocks, newBlockDigestPass, stopBlockDigestPass, withBlocksOf, withoutBlocks } from '../../src/techniques/tape-backup/block-digest-pass.js';
import { verifyTapeAgainstPlan } from '../../src/tape/tape-verify.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { awsEntries } from './backup-test-helpers.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
let tape: string;

beforeAll(async () => {
  dir = makeTempDir('snaptape-finish-overlap-');
  const volume = makeFilledVolume(dir.path, { cylinders: 4, seed: 22, name: 'source.ckd' });
  tape = at('volume.aws');
  try {
    await runBackup(volume, { tapePath: tape, workers: 2 });
  } finally {
    volume.close();
  }
}, 120_000);
afterAll(() => dir.cleanup());

describe("the finish's read-back", () => {
  it('checks every data block header against the plan, naming a damaged one by block and byte offset', () => {
    // A two-file plan of small blocks, its data blocks written by hand, its frame as a backup writes it.
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
    const fd = openSync(path, 'r+');
    try {
      writeTapeFrame(fd, plan, [], path);
    } finally {
      closeSync(fd);
    }
    expect(verifyTapeAgainstPlan(path, plan, undefined, { indexFromPlan: true }).dataBlockCount).toBe(5);
    const framed = readFileSync(path);
    const damagedAt = plan.files[0]?.dataOffsetsBytes[2] as number;
    framed[damagedAt + 2] = (framed[damagedAt + 2] as number) ^ 0x01;
    writeFileSync(path, framed);
    expect(() => verifyTapeAgainstPlan(path, plan, undefined, { indexFromPlan: true })).toThrow(`block 2 at byte offset ${damagedAt} has the header`);
    // A backup's digest pass reads the data blocks back and checks their headers; the finish then
    // checks the labels' and tapemarks' only.
    expect(verifyTapeAgainstPlan(path, plan, undefined, { indexFromPlan: true, dataHeadersChecked: true }).dataBlockCount).toBe(5);
    const states = TrackStateArray.create(5);
    for (let u = 0; u < 5; u++) states.restore(u, UNIT_STATE.COPIED);
    const pass = newBlockDigestPass(plan, { tapePath: path, baseOffsetBytes: 0, stateBuffer: states.buffer });
    const result = digestBlocks(pass);
    // A run is counted once all of its blocks are checked: blocks 0 and 1 were read with block 2.
    expect(result.hashed).toBe(0);
    expect(result.error?.message).toContain(`block 2 at byte offset ${damagedAt} has the header`);
    // The same tape undamaged: every block hashed, each digest the SHA-256 of its payload.
    framed[damagedAt + 2] = (framed[damagedAt + 2] as number) ^ 0x01;
    writeFileSync(path, framed);
    const whole = newBlockDigestPass(plan, { tapePath: path, baseOffsetBytes: 0, stateBuffer: states.buffer });
    expect(digestBlocks(whole)).toMatchObject({ hashed: 5 });
    const digests = Buffer.from(whole.digests);
    [1, 2, 3, 1, 2].forEach((fill, u) => {
      const length = [100, 200, 300, 50, 60][u] as number;
      expect(digests.subarray(u * 32, (u + 1) * 32).toString('hex')).toBe(createHash('sha256').update(Buffer.alloc(length, fill)).digest('hex'));
    });
  });

  it("the finish gets the plan without its data blocks and puts them back from the pass's tables", () => {
    // Two elements, one of them empty, blocks of many lengths: a 3390-54 has 983,000 of them, whose
    // structured clone took 94-230 ms of the owning thread; the tables are shared, not cloned.
    const files: TapeFileSpec[] = [
      {
        dsname: 'A',
        recordFormat: 'U',
        recordLengthBytes: 0,
        blockSizeBytes: 9000,
        dataBlockLengths: Array.from({ length: 3000 }, (_, i) => 1 + ((i * 37) % 9000)),
      },
      { dsname: 'E', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 100, dataBlockLengths: [] },
      { dsname: 'B', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 60, dataBlockLengths: [50, 60] },
    ];
    const plan = planTape({ volser: 'PASS06', labelled: true, files });
    const states = TrackStateArray.create(3002);
    const pass = newBlockDigestPass(plan, { tapePath: at('unused.aws'), baseOffsetBytes: 0, stateBuffer: states.buffer });
    const compact = withoutBlocks(plan);
    expect(compact.files.every((f) => f.dataOffsetsBytes.length === 0 && f.spec.dataBlockLengths.length === 0)).toBe(true);
    expect(serialize(compact).length).toBeLessThan(serialize(plan).length / 10);
    const counts = plan.files.map((f) => f.spec.dataBlockLengths.length);
    // As a thread receives it (a clone: label bytes as Uint8Array), and as it would have the whole plan.
    expect(withBlocksOf(structuredClone(compact), pass, counts)).toEqual(structuredClone(plan));
  });

  it('the digest pass stops when told while a block is not on the tape yet, hashing nothing past it', () => {
    const files: TapeFileSpec[] = [{ dsname: 'A', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 100, dataBlockLengths: [100, 100] }];
    const plan = planTape({ volser: 'PASS02', labelled: false, files });
    const path = at('wait.aws');
    // Zeros: a block read from here would fail its header check, so no error proves none was read.
    writeFileSync(path, Buffer.alloc(plan.sizeBytes));
    const states = TrackStateArray.create(2);
    states.restore(1, UNIT_STATE.COPIED);
    const pass = newBlockDigestPass(plan, { tapePath: path, baseOffsetBytes: 0, stateBuffer: states.buffer });
    stopBlockDigestPass(pass);
    expect(digestBlocks(pass)).toEqual(expect.objectContaining({ hashed: 0, stopped: true }));
    expect(digestBlocks(pass).error).toBeUndefined();
  });

  it('a stopped or cancelled pass reads no more windows, though their blocks are on the tape', () => {
    // Three elements, so three windows, every block copied: a failed or cancelled backup whose pass
    // is behind the copy must not hash the whole backlog before it may end.
    const files: TapeFileSpec[] = ['A', 'B', 'C'].map((dsname) => ({
      dsname,
      recordFormat: 'U',
      recordLengthBytes: 0,
      blockSizeBytes: 100,
      dataBlockLengths: [100, 100],
    }));
    const plan = planTape({ volser: 'PASS03', labelled: false, files });
    const path = at('stopped.aws');
    // Zeros: a block read from here would fail its header check, so no error proves none was read.
    writeFileSync(path, Buffer.alloc(plan.sizeBytes));
    for (const stop of ['stop word', 'cancel'] as const) {
      const states = TrackStateArray.create(6);
      for (let u = 0; u < 6; u++) states.restore(u, UNIT_STATE.COPIED);
      const pass = newBlockDigestPass(plan, { tapePath: path, baseOffsetBytes: 0, stateBuffer: states.buffer });
      if (stop === 'stop word') stopBlockDigestPass(pass);
      else states.setControl(CONTROL.CANCEL);
      const result = digestBlocks(pass);
      expect({ stop, ...result }).toEqual(expect.objectContaining({ stop, hashed: 0, stopped: true }));
      expect(result.error).toBeUndefined();
    }
  });

  it("a paused backup's pass reads nothing until the session resumes or ends", async () => {
    const files: TapeFileSpec[] = [{ dsname: 'A', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 100, dataBlockLengths: [100, 100] }];
    const plan = planTape({ volser: 'PASS05', labelled: false, files });
    const path = at('paused.aws');
    // Zeros: a block read from here would fail its header check, so no error proves none was read.
    writeFileSync(path, Buffer.alloc(plan.sizeBytes));
    const states = TrackStateArray.create(2);
    for (let u = 0; u < 2; u++) states.restore(u, UNIT_STATE.COPIED);
    states.setControl(CONTROL.PAUSE);
    const pass = newBlockDigestPass(plan, { tapePath: path, baseOffsetBytes: 0, stateBuffer: states.buffer });
    // The pass blocks its thread, as on the pool: it runs on a worker thread (the compiled module).
    const url = new URL('../../dist/techniques/tape-backup/block-digest-pass.js', import.meta.url).href;
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(workerData.url).then((m) => {
         parentPort.postMessage('loaded');
         parentPort.postMessage(m.digestBlocks(workerData.pass));
       });`,
      { eval: true, workerData: { url, pass } },
    );
    try {
      const messages: unknown[] = [];
      let started = 0;
      const result = new Promise<{ hashed: number; stopped?: boolean; error?: unknown; ms: number }>((resolve, reject) => {
        worker.on('message', (m: unknown) => {
          messages.push(m);
          if (m === 'loaded') started = Date.now();
          else resolve({ ...(m as { hashed: number; stopped?: boolean; error?: unknown }), ms: Date.now() - started });
        });
        worker.once('error', reject);
      });
      // Timed from the pass's start, once its module is loaded (which takes a while on a busy machine).
      while (started === 0 && messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 300));
      states.setControl(CONTROL.CANCEL);
      const ended = await result;
      expect(ended.error, 'a block was read while paused').toBeUndefined();
      expect(ended).toEqual(expect.objectContaining({ hashed: 0, stopped: true }));
      expect(ended.ms).toBeGreaterThanOrEqual(250);
    } finally {
      await worker.terminate();
    }
  });

  it('a task that fails stops the others: they read no more windows', () => {
    const files: TapeFileSpec[] = ['A', 'B'].map((dsname) => ({
      dsname,
      recordFormat: 'U',
      recordLengthBytes: 0,
      blockSizeBytes: 100,
      dataBlockLengths: [100],
    }));
    const plan = planTape({ volser: 'PASS04', labelled: false, files });
    const path = at('failed.aws');
    writeFileSync(path, Buffer.alloc(plan.sizeBytes));
    const states = TrackStateArray.create(2);
    for (let u = 0; u < 2; u++) states.restore(u, UNIT_STATE.COPIED);
    const pass = newBlockDigestPass(plan, { tapePath: path, baseOffsetBytes: 0, stateBuffer: states.buffer });
    // The first task fails on the first block it reads (zeros, not its header) and stops the pass.
    expect(digestBlocks(pass).error?.message).toContain('block 0 at byte offset 0 has the header');
    // A second task (a copy worker's thread joining) finds the pass stopped, and reads nothing.
    expect(digestBlocks(pass)).toEqual(expect.objectContaining({ hashed: 0, stopped: true }));
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
    const entries = awsEntries(readFileSync(tape));
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
    const labels = awsEntries(readFileSync(tape)).filter((e) => e.kind === 'block' && e.length === 80);
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
