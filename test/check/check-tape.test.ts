/**
 * Layer: named fault scenarios on copies of real tapes (vectors 07, 08, 09). Each corruption
 * `snaptape check` detects is made here and the problem's kind, block number and byte offset are
 * asserted; a check without --repair leaves the bytes and mtime unchanged. --repair of a torn tail
 * gives a tape that Hercules `tapemap` and `hetmap` and our own reader accept, and that checks clean.
 */
import { appendFileSync, readFileSync, truncateSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeEbcdic } from '../../src/base/ebcdic.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { readTapeContents } from '../../src/tape/tape-contents.js';
import { TapeReader } from '../../src/tape/tape-reader.js';
import { runTool } from '../harness/external-tools.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';
import { awsChunks, checkJson, copyVector, fileState, patchFile } from './check-fixtures.js';

const dir = makeTempDir();
afterAll(() => dir.cleanup());

const V07 = '07_tape_sl_1file.aws';
const V07_BYTES = 2472;

/** Offset of the chunk whose data starts with EBCDIC `labelId` (an uncompressed label block). */
function labelChunk(path: string, labelId: string): { offsetBytes: number; blockNumber: number } {
  const data = readFileSync(path);
  const chunks = awsChunks(path);
  const i = chunks.findIndex((c) => c.curlen === 80 && data.subarray(c.offsetBytes + 6, c.offsetBytes + 10).equals(encodeEbcdic(labelId)));
  if (i < 0) throw new Error(`no ${labelId} in ${path}`);
  // One chunk per block on these tapes: the chunk index is the block number.
  return { offsetBytes: (chunks[i] as { offsetBytes: number }).offsetBytes, blockNumber: i };
}

/** Runs the check without --repair: the problems, and the file is unchanged. */
function checkReadOnly(path: string): ReturnType<typeof checkJson>['report'] {
  const before = fileState(path);
  const { status, report } = checkJson(path);
  expect(fileState(path), 'a check without --repair writes nothing').toEqual(before);
  expect(status).toBe(report.clean ? 0 : EXIT_STATUS_BY_CODE.VERIFY);
  return report;
}

/** Hercules tapemap and hetmap list the tape, and our reader reads its labels and data sets. */
function expectToolsAccept(path: string): void {
  for (const tool of ['tapemap', 'hetmap']) {
    const r = runTool(tool, [path], { cwd: dir.path });
    expect(r.status, `${tool} ${path}: ${r.stdout}${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/error|HHC\w+E /i);
  }
  const reader = TapeReader.open(path);
  try {
    expect(readTapeContents(reader).dataSets.length).toBeGreaterThanOrEqual(1);
  } finally {
    reader.close();
  }
}

describe('header faults', () => {
  it('a previous-length mismatch: kind header-prvlen at the block and offset, not repaired', () => {
    const path = copyVector(V07, dir.path, 'prvlen.aws');
    const chunk = awsChunks(path)[5] as { offsetBytes: number };
    patchFile(path, chunk.offsetBytes + 2, [0x21, 0x03]);
    const report = checkReadOnly(path);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'header-prvlen', location: expect.objectContaining({ blockNumber: 5, offsetBytes: 1070 }) }),
    ]);
    expect(report.problems[0]?.message).toMatch(/previous length 801 .* the chunk before holds 800 bytes/);
    const repaired = checkJson(path, { repair: true });
    expect(repaired.report).toMatchObject({ repaired: [], clean: false, remaining: [{ kind: 'header-prvlen' }] });
    expect(repaired.report.notRepaired.join('\n')).toMatch(/header-prvlen: .*left alone/);
  });

  it('bad flags (an unknown flags1 bit, a non-zero flags2): kind header-flags at the block', () => {
    const path = copyVector(V07, dir.path, 'flags.aws');
    patchFile(path, 1876 + 4, [0xb0]);
    patchFile(path, 86 + 5, [0x80]);
    const report = checkReadOnly(path);
    expect(report.problems.map((p) => [p.kind, p.location.blockNumber, p.location.offsetBytes])).toEqual([
      ['header-flags', 1, 86],
      ['header-flags', 6, 1876],
    ]);
    expect(report.problems[1]?.message).toMatch(/bad flags1 0xb0 .*unknown bits/);
  });

  it('a chunk length damaged in the middle of the tape is not taken for a torn tail', () => {
    const path = copyVector('08_tape_nl_bigblocks.aws', dir.path, 'length.aws');
    patchFile(path, 106, [0xff, 0xff]);
    const report = checkReadOnly(path);
    expect(report.problems[0]).toMatchObject({ kind: 'header-length', location: { blockNumber: 1, offsetBytes: 106 } });
    const before = fileState(path);
    expect(checkJson(path, { repair: true }).report.repaired).toEqual([]);
    expect(fileState(path).sha256).toBe(before.sha256);
  });
});

describe('torn tails', () => {
  it('half a block appended after the end (a crash while appending): found, and --repair gives back the tape', () => {
    const original = vectorPath(V07, dir.path);
    const path = copyVector(V07, dir.path, 'torn-append.aws');
    appendFileSync(path, Buffer.concat([Buffer.from([0x20, 0x03, 0x00, 0x00, 0xa0, 0x00]), Buffer.alloc(100, 0xc1)]));
    const report = checkReadOnly(path);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'torn-block', location: expect.objectContaining({ blockNumber: 12, offsetBytes: V07_BYTES }) }),
    ]);
    expect(report.notRepaired.join('\n')).toMatch(/torn-block: run check --repair/);
    const repaired = checkJson(path, { repair: true });
    expect(repaired.status).toBe(0);
    expect(repaired.report).toMatchObject({ clean: true, remaining: [] });
    expect(repaired.report.repaired[0]).toMatch(/cut off the torn final block 12 at byte offset 2472 \(106 bytes/);
    expect(fileState(path).sha256).toBe(fileState(original).sha256);
    expectToolsAccept(path);
    expect(checkJson(path).report.clean).toBe(true);
  });

  it('a torn last tapemark: the tail is cut and the end-of-volume tapemark put back', () => {
    const path = copyVector(V07, dir.path, 'torn-mark.aws');
    truncateSync(path, V07_BYTES - 3);
    const report = checkReadOnly(path);
    expect(report.problems.map((p) => [p.kind, p.location.blockNumber, p.location.offsetBytes])).toEqual([
      ['torn-block', 11, 2466],
      ['end-of-volume', 11, 2466],
    ]);
    const repaired = checkJson(path, { repair: true }).report;
    expect(repaired).toMatchObject({ clean: true });
    expect(repaired.repaired).toEqual([
      expect.stringMatching(/cut off the torn final block 11 at byte offset 2466 \(3 bytes/),
      expect.stringMatching(/appended 1 tapemark\(s\) at byte offset 2466/),
    ]);
    expect(fileState(path).sha256).toBe(fileState(vectorPath(V07, dir.path)).sha256);
    expectToolsAccept(path);
  });

  it('a HET tape torn inside its last compressed block: repaired, hetmap reads it', () => {
    const original = vectorPath('09_tape_sl_1file.zlib.het', dir.path);
    const path = copyVector('09_tape_sl_1file.zlib.het', dir.path, 'torn.het');
    const size = fileState(path).sizeBytes;
    appendFileSync(path, Buffer.concat([Buffer.from([0x40, 0x00, 0x00, 0x00, 0xa1, 0x00]), Buffer.from([0x78, 0x9c, 0x01])]));
    const report = checkReadOnly(path);
    expect(report.format).toBe('het');
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'torn-block', location: expect.objectContaining({ blockNumber: 12, offsetBytes: size }) }),
    ]);
    expect(checkJson(path, { repair: true }).report.clean).toBe(true);
    expect(fileState(path).sha256).toBe(fileState(original).sha256);
    expectToolsAccept(path);
  });

  it('a tape torn inside a segmented block (4096-byte chunks): cut, and the open end is reported, not papered over', () => {
    const path = copyVector('08_tape_nl_bigblocks_chunk4096.aws', dir.path, 'torn-segment.aws');
    truncateSync(path, 9220 + 6 + 100);
    const report = checkReadOnly(path);
    expect(report.problems[0]).toMatchObject({ kind: 'torn-block', location: { blockNumber: 2, offsetBytes: 5118 } });
    const repaired = checkJson(path, { repair: true }).report;
    expect(repaired.repaired).toHaveLength(1);
    expect(fileState(path).sizeBytes).toBe(5118);
    expect(repaired.remaining).toEqual([expect.objectContaining({ kind: 'end-of-volume' })]);
    expect(repaired.notRepaired.join('\n')).toMatch(/end-of-volume: not closed: the tape ends inside a data set/);
    // Both whole blocks before the tear are still there.
    expect(awsChunks(path).map((c) => c.curlen)).toEqual([100, 4096, 904]);
  });
});

describe('HET blocks and labels', () => {
  it('a HET block whose zlib data is damaged: kind het-block at its block number and offset', () => {
    const path = copyVector('09_tape_sl_1file.zlib.het', dir.path, 'bad-zlib.het');
    const chunks = awsChunks(path);
    const firstTm = chunks.findIndex((c) => c.flags1 === 0x40);
    const data = chunks[firstTm + 1] as { offsetBytes: number; curlen: number; flags1: number };
    expect(data.flags1 & 0x01).toBe(0x01);
    patchFile(path, data.offsetBytes + 6 + 2, Buffer.alloc(data.curlen - 6, 0x5a));
    const report = checkReadOnly(path);
    expect(report.problems.map((p) => p.kind)).toContain('het-block');
    expect(report.problems.find((p) => p.kind === 'het-block')?.location).toMatchObject({ blockNumber: firstTm + 1, offsetBytes: data.offsetBytes });
  });

  it('an EOF1 block count that disagrees with the data blocks counted: kind block-count at the EOF1', () => {
    const path = copyVector(V07, dir.path, 'count.aws');
    const eof1 = labelChunk(path, 'EOF1');
    // Columns 55-60 (offset 54): the block count, EBCDIC digits "000003" → "000004".
    patchFile(path, eof1.offsetBytes + 6 + 54, encodeEbcdic('000004'));
    const report = checkReadOnly(path);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'block-count', location: expect.objectContaining({ blockNumber: eof1.blockNumber, offsetBytes: eof1.offsetBytes }) }),
    ]);
    expect(report.problems[0]?.message).toMatch(/block count 4, but data set 1 has 3 data blocks/);
  });

  it('a label sequence that breaks the rules (HDR2 missing): kind label-sequence at the block', () => {
    const path = copyVector(V07, dir.path, 'sequence.aws');
    const hdr2 = labelChunk(path, 'HDR2');
    patchFile(path, hdr2.offsetBytes + 6, encodeEbcdic('XDR2'));
    const report = checkReadOnly(path);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'label-sequence', location: expect.objectContaining({ blockNumber: 2, offsetBytes: 172 }) }),
    ]);
    expect(report.problems[0]?.message).toMatch(/expected HDR2 or a tapemark in state hdr1, found a 80-byte block that is not a label/);
  });

  it('a label field that is not digits: kind label', () => {
    const path = copyVector(V07, dir.path, 'field.aws');
    const hdr1 = labelChunk(path, 'HDR1');
    patchFile(path, hdr1.offsetBytes + 6 + 31, encodeEbcdic('00X1'));
    const report = checkReadOnly(path);
    expect(report.problems[0]).toMatchObject({ kind: 'label', location: { blockNumber: 1, offsetBytes: 86 } });
  });

  it('a missing end-of-volume tapemark (SL and NL): found at the end; --repair appends it', () => {
    for (const name of [V07, '08_tape_nl_bigblocks.aws']) {
      const original = vectorPath(name, dir.path);
      const path = copyVector(name, dir.path, `eov-${name}`);
      const size = fileState(path).sizeBytes;
      truncateSync(path, size - 6);
      const report = checkReadOnly(path);
      const entries = awsChunks(path).length;
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'end-of-volume', location: expect.objectContaining({ blockNumber: entries, offsetBytes: size - 6 }) }),
      ]);
      expect(checkJson(path, { repair: true }).report.clean).toBe(true);
      expect(fileState(path).sha256).toBe(fileState(original).sha256);
    }
  });
});
