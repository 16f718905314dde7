/**
 * Layers: unit + golden vectors. The reader indexes and reads the Hercules tape vectors 05–09
 * (plain, segmented 4096-byte chunks, HET zlib and bzip2) exactly as their .txt files describe, and
 * positions like a drive (space block/file forward and back, rewind, seek).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeAwsBlockHeader, encodeAwsBlockHeader, blockHeaderBytes, tapemarkHeaderBytes } from '../../src/tape/aws-block-header.js';
import { TapeReader } from '../../src/tape/tape-reader.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

const temp = makeTempDir();
afterAll(() => temp.cleanup());
const vector = (name: string): string => vectorPath(name, temp.path);

/** "off=264 hdr=20 03 00 00 a0 00" lines of a vector's .txt, for one section. */
function headerOffsets(txtName: string, section = 0): number[] {
  const text = readFileSync(vector(txtName), 'utf8');
  const sections = text.split(/\n(?=Headers of|zlib file:|bzip2 file:|Every AWSTAPE header)/);
  const chosen = sections.filter((s) => /off=\d+/.test(s))[section] ?? '';
  return [...chosen.matchAll(/off=(\d+)\s+hdr=/g)].map((m) => Number(m[1]));
}

function readAll(reader: TapeReader): { kind: string; data?: Buffer }[] {
  const out: { kind: string; data?: Buffer }[] = [];
  for (let r = reader.read(); r.kind !== 'end'; r = reader.read()) out.push(r.kind === 'block' ? { kind: 'block', data: r.data } : { kind: 'tapemark' });
  return out;
}

describe('AWSTAPE chunk header', () => {
  it('encodes the header bytes shown in vector 07', () => {
    expect(blockHeaderBytes({ lengthBytes: 800, previousChunkBytes: 0 }).toString('hex')).toBe('20030000a000');
    expect(tapemarkHeaderBytes(400).toString('hex')).toBe('000090014000');
    expect(decodeAwsBlockHeader(Buffer.from('881300106400', 'hex'))).toEqual({ curlenBytes: 5000, prvlenBytes: 4096, flags1: 0x64, flags2: 0 });
    const header = { curlenBytes: 65535, prvlenBytes: 1, flags1: 0x80, flags2: 0 };
    expect(decodeAwsBlockHeader(encodeAwsBlockHeader(header))).toEqual(header);
  });
});

describe('TapeReader on the Hercules vectors', () => {
  it('05: SL blank tape is VOL1, HDR1, TM', () => {
    const reader = TapeReader.open(vector('05_tape_sl_hetinit.aws'));
    expect([...reader.index.entries()].map((e) => [e.kind, e.offsetBytes])).toEqual([
      ['block', 0],
      ['block', 86],
      ['tapemark', 172],
    ]);
    reader.close();
  });

  it('06: NL blank tape is TM TM', () => {
    const reader = TapeReader.open(vector('06_tape_nl_hetinit.aws'));
    expect([...reader.index.entries()].map((e) => e.kind)).toEqual(['tapemark', 'tapemark']);
    reader.close();
  });

  it('07: every block sits at the offset the .txt lists, and the data equals the payload', () => {
    const reader = TapeReader.open(vector('07_tape_sl_1file.aws'));
    expect([...reader.index.entries()].map((e) => e.offsetBytes)).toEqual(headerOffsets('07_tape_sl_1file.txt'));
    expect([...reader.index.entries()].map((e) => e.fileNumber)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4]);
    const payload = Buffer.concat([4, 5, 6].map((n) => reader.readBlockData(n)));
    expect(payload.equals(readFileSync(vector('07_tape_sl_1file.payload.bin')))).toBe(true);
    reader.close();
  });

  it('08: a segmented tape (4096-byte chunks) reads the same blocks as the one-chunk tape', () => {
    const whole = TapeReader.open(vector('08_tape_nl_bigblocks.aws'));
    const chunked = TapeReader.open(vector('08_tape_nl_bigblocks_chunk4096.aws'));
    expect([...chunked.index.entries()].map((e) => e.chunkCount)).toEqual([1, 2, 3, 1, 1, 1, 1]);
    const a = readAll(whole);
    const b = readAll(chunked);
    expect(b).toEqual(a);
    expect(a.filter((x) => x.kind === 'block').map((x) => x.data?.length)).toEqual([100, 5000, 12000, 10]);
    const block2 = a[2]?.data ?? Buffer.alloc(0);
    expect([...block2.subarray(0, 4)]).toEqual([5, 36, 67, 98]); // byte k = (k*31+5)&255
    whole.close();
    chunked.close();
  });

  it('09: HET zlib and bzip2 blocks decompress to the blocks of vector 07', () => {
    const plain = TapeReader.open(vector('07_tape_sl_1file.aws'));
    const expected = readAll(plain);
    for (const name of ['09_tape_sl_1file.zlib.het', '09_tape_sl_1file.bz2.het']) {
      const reader = TapeReader.open(vector(name));
      expect(readAll(reader), name).toEqual(expected);
      reader.close();
    }
    const zlib = TapeReader.open(vector('09_tape_sl_1file.zlib.het'));
    expect([...zlib.index.entries()].map((e) => e.offsetBytes)).toEqual(headerOffsets('09_tape_sl_1file.txt', 0));
    expect(zlib.entry(0).compression).toBe('zlib');
    zlib.close();
    const bz2 = TapeReader.open(vector('09_tape_sl_1file.bz2.het'));
    expect([...bz2.index.entries()].map((e) => e.offsetBytes)).toEqual(headerOffsets('09_tape_sl_1file.txt', 1));
    expect([...bz2.index.entries()].map((e) => e.compression).slice(0, 3)).toEqual(['bzip2', 'none', 'none']);
    bz2.close();
    plain.close();
  });
});

describe('TapeReader positioning', () => {
  it('spaces blocks and files, rewinds and seeks through the index', () => {
    const reader = TapeReader.open(vector('07_tape_sl_1file.aws'));
    expect(reader.forwardSpaceFile()).toBe('tapemark');
    expect(reader.position).toBe(4);
    const first = reader.read();
    expect(first.kind === 'block' && first.data.length).toBe(800);
    expect(reader.forwardSpaceBlock()).toBe('block');
    expect(reader.forwardSpaceBlock()).toBe('block');
    expect(reader.forwardSpaceBlock()).toBe('tapemark');
    expect(reader.position).toBe(8);
    expect(reader.backSpaceBlock()).toBe('tapemark');
    expect(reader.backSpaceFile()).toBe('tapemark');
    expect(reader.position).toBe(3);
    expect(reader.backSpaceFile()).toBe('load-point');
    expect(reader.position).toBe(0);
    expect(reader.backSpaceBlock()).toBe('load-point');
    reader.seekBlock(6);
    const last = reader.read();
    expect(last.kind === 'block' && last.data.length).toBe(400);
    reader.seekBlock(reader.entryCount);
    expect(reader.read().kind).toBe('end');
    expect(reader.forwardSpaceFile()).toBe('end');
    reader.rewind();
    const vol1 = reader.read();
    expect(vol1.kind === 'block' && vol1.entry.offsetBytes).toBe(0);
    reader.close();
  });
});
