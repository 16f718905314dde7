/**
 * Layer: CLI, hostile input. `tape get` copies a data set off a tape in bounded memory: a small HET
 * file whose blocks each inflate to 64 KiB (every block legal, 96 bytes on disk) holds a data set
 * thousands of times its size, so holding the data set whole is a decompression bomb in aggregate.
 * The output is the same, binary or text; a data set that fails half-way leaves no output behind,
 * and an existing output is replaced only once the copy is whole.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEbcdicPadded } from '../../src/base/ebcdic.js';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { runSnaptapeMeasured } from '../harness/peak-rss.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const MIB = 1024 * 1024;
/** 2,048 blocks of 65,535 bytes: 128 MiB of data set from a tape of under 250 KB. */
const BLOCKS = 2048;
const BLOCK_BYTES = 0xffff;
/**
 * Peak RSS allowed: the CLI itself (about 100 MiB) and its read window, with room for garbage not
 * yet collected (140-170 MiB measured, the same for 16 or 4,096 blocks); holding the data set
 * whole, it was 369 MiB (762 MiB with --text).
 */
const RSS_BOUND_BYTES = 224 * MIB;

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);

/** An unlabelled HET tape of one file: `blocks`, each stored zlib-compressed in one chunk. */
function hetTape(blocks: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let previous = 0;
  const header = (curlen: number, flags: number): Buffer => {
    const h = Buffer.alloc(6);
    h.writeUInt16LE(curlen, 0);
    h.writeUInt16LE(previous, 2);
    h[4] = flags;
    previous = curlen;
    return h;
  };
  for (const block of blocks) {
    const stored = deflateSync(block);
    parts.push(header(stored.length, 0xa1), stored);
  }
  parts.push(header(0, 0x40), header(0, 0x40));
  return Buffer.concat(parts);
}

beforeAll(() => {
  dir = makeTempDir('snaptape-tape-get-');
}, 60_000);
afterAll(() => dir.cleanup());

describe('tape get holds a bounded part of the data set', () => {
  it('copies 128 MiB of zlib blocks from a 200 KB tape, binary and as text, in bounded memory', () => {
    // EBCDIC "A" records of 80 bytes, across block boundaries (65,535 is no multiple of 80).
    const block = Buffer.alloc(BLOCK_BYTES, 0xc1);
    const tape = at('bomb.het');
    writeFileSync(tape, hetTape(Array.from({ length: BLOCKS }, () => block)));
    expect(statSync(tape).size).toBeLessThan(250_000);

    const binary = runSnaptapeMeasured(['tape', 'get', tape, '1', at('out.bin')], dir.path);
    expect(binary.status, binary.stderr).toBe(0);
    expect(statSync(at('out.bin')).size).toBe(BLOCKS * BLOCK_BYTES);
    expect(binary.peakRssBytes, `binary: peak RSS ${(binary.peakRssBytes / MIB).toFixed(0)} MiB`).toBeLessThan(RSS_BOUND_BYTES);

    const text = runSnaptapeMeasured(['tape', 'get', tape, '1', at('out.txt'), '--text'], dir.path);
    expect(text.status, text.stderr).toBe(0);
    expect(text.peakRssBytes, `text: peak RSS ${(text.peakRssBytes / MIB).toFixed(0)} MiB`).toBeLessThan(RSS_BOUND_BYTES);
    // No HDR2 on an unlabelled tape: each block is one U record, one line of 65,535 "A".
    const lines = readFileSync(at('out.txt'), 'latin1').split('\n');
    expect(lines).toHaveLength(BLOCKS + 1);
    expect(lines[0]).toBe('A'.repeat(BLOCK_BYTES));
  }, 120_000);

  it('a data set that fails half-way leaves no output, and keeps an existing one', () => {
    const good = Buffer.alloc(BLOCK_BYTES, 0x40);
    const tapeBytes = hetTape([good, good, encodeEbcdicPadded('LAST', 80)]);
    // The third block's zlib stream damaged: the first two were read, and (streamed) written.
    const thirdHeader = 2 * (6 + deflateSync(good).length);
    tapeBytes[thirdHeader + 6 + 2] = (tapeBytes[thirdHeader + 6 + 2] as number) ^ 0xff;
    const tape = at('damaged.het');
    writeFileSync(tape, tapeBytes);

    expectCliFailure(runSnaptape(['tape', 'get', tape, '1', at('none.bin')]), 'TAPE_FORMAT', ['block 2']);
    expect(existsSync(at('none.bin')), 'no output left').toBe(false);

    writeFileSync(at('kept.bin'), 'old contents');
    expectCliFailure(runSnaptape(['tape', 'get', tape, '1', at('kept.bin'), '--force']), 'TAPE_FORMAT', ['block 2']);
    expect(readFileSync(at('kept.bin'), 'utf8')).toBe('old contents');
    expectCliFailure(runSnaptape(['tape', 'get', tape, '1', at('kept.bin')]), 'TARGET_EXISTS', ['kept.bin']);
    expect(readFileSync(at('kept.bin'), 'utf8')).toBe('old contents');
    expect(
      readdirSync(dir.path).filter((n) => n.startsWith('kept.bin') || n.startsWith('none.bin')),
      'no partial copies left',
    ).toEqual(['kept.bin']);
  });
});
