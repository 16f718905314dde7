/**
 * Layer: named fault scenarios. Each damaged tape gives a typed error naming the block number and
 * byte offset, the CLI exits non-zero with one line, and the input file's bytes are unchanged.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { SnaptapeError, TapeFormatError, TapeLabelError, type ErrorCode } from '../../src/errors/snaptape-error.js';
import { listTape } from '../../src/tape/list-tape.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

const temp = makeTempDir();
afterAll(() => temp.cleanup());
beforeAll(() => {
  // The CLI runs the compiled dist/ (npm test builds first); this file checks it exists.
  expect(readFileSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))).length).toBeGreaterThan(0);
});

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

interface Scenario {
  readonly name: string;
  readonly vector: string;
  readonly damage: (path: string) => void;
  readonly errorClass: typeof TapeFormatError | typeof TapeLabelError;
  readonly code: ErrorCode;
  readonly blockNumber: number;
  readonly offsetBytes: number;
  readonly message: RegExp;
}

function patch(offsetBytes: number, bytes: number[]): (path: string) => void {
  return (path) => {
    const data = readFileSync(path);
    Buffer.from(bytes).copy(data, offsetBytes);
    writeFileSync(path, data);
  };
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'a wrong previous length',
    vector: '07_tape_sl_1file.aws',
    damage: patch(1070 + 2, [0x21, 0x03]),
    errorClass: TapeFormatError,
    code: 'TAPE_FORMAT',
    blockNumber: 5,
    offsetBytes: 1070,
    message: /block 5 at byte offset 1070 has previous length 801/,
  },
  {
    name: 'a truncated block',
    vector: '07_tape_sl_1file.aws',
    damage: (p) => truncateSync(p, 1500),
    errorClass: TapeFormatError,
    code: 'TAPE_FORMAT',
    blockNumber: 5,
    offsetBytes: 1070,
    message: /block 5 at byte offset 1070 is truncated/,
  },
  {
    name: 'a truncated chunk of a segmented block',
    vector: '08_tape_nl_bigblocks_chunk4096.aws',
    damage: (p) => truncateSync(p, 9220 + 6 + 100),
    errorClass: TapeFormatError,
    code: 'TAPE_FORMAT',
    blockNumber: 2,
    offsetBytes: 5118,
    message: /block 2 at byte offset 5118 is truncated: the chunk header at 9220/,
  },
  {
    name: 'a missing closing tapemark (NL)',
    vector: '08_tape_nl_bigblocks.aws',
    damage: (p) => truncateSync(p, 17140),
    errorClass: TapeFormatError,
    code: 'TAPE_FORMAT',
    blockNumber: 5,
    offsetBytes: 17140,
    message: /ends after block 4 at byte offset 17124 without a closing tapemark/,
  },
  {
    name: 'a missing end-of-volume tapemark (SL)',
    vector: '07_tape_sl_1file.aws',
    damage: (p) => truncateSync(p, 2466),
    errorClass: TapeLabelError,
    code: 'TAPE_LABEL',
    blockNumber: 11,
    offsetBytes: 2466,
    message: /found the end of the file at block 11, byte offset 2466/,
  },
  {
    name: 'a missing tapemark between data and EOF1',
    vector: '07_tape_sl_1file.aws',
    damage: (p) => {
      const data = readFileSync(p);
      // Drop the TM at 2282 and relink EOF1's prvlen to the last data block (400 bytes).
      const joined = Buffer.concat([data.subarray(0, 2282), data.subarray(2288)]);
      joined.writeUInt16LE(400, 2282 + 2);
      writeFileSync(p, joined);
    },
    errorClass: TapeLabelError,
    code: 'TAPE_LABEL',
    blockNumber: 10,
    offsetBytes: 2460,
    message: /expected EOF1 or EOV1 in state data-end, found a tapemark at block 10, byte offset 2460/,
  },
  {
    name: 'a label with a bad field',
    vector: '07_tape_sl_1file.aws',
    damage: patch(172 + 6 + 5, [0xe7]),
    errorClass: TapeLabelError,
    code: 'TAPE_LABEL',
    blockNumber: 2,
    offsetBytes: 172,
    message: /label HDR2 at block 2, byte offset 172 .*field blockLength \(columns 6-10\) is "X0800"/,
  },
  {
    name: 'an EOF1 block count that disagrees with the data',
    vector: '07_tape_sl_1file.aws',
    damage: patch(2288 + 6 + 59, [0xf4]),
    errorClass: TapeLabelError,
    code: 'TAPE_LABEL',
    blockNumber: 8,
    offsetBytes: 2288,
    message: /EOF1 at block 8, byte offset 2288 has block count 4, but data set 1 has 3 data blocks/,
  },
  {
    name: 'bad flags',
    vector: '07_tape_sl_1file.aws',
    damage: patch(86 + 4, [0xa8]),
    errorClass: TapeFormatError,
    code: 'TAPE_FORMAT',
    blockNumber: 1,
    offsetBytes: 86,
    message: /block 1 at byte offset 86 has bad flags1 0xa8/,
  },
  {
    name: 'HET zlib data that does not decompress',
    vector: '09_tape_sl_1file.zlib.het',
    damage: patch(171 + 6 + 10, [0xde, 0xad, 0xbe, 0xef]),
    errorClass: TapeFormatError,
    code: 'TAPE_FORMAT',
    blockNumber: 4,
    offsetBytes: 171,
    message: /Cannot decompress block 4 at byte offset 171 .*zlib data is damaged/,
  },
  {
    name: 'HET bzip2 data that does not decompress',
    vector: '09_tape_sl_1file.bz2.het',
    damage: patch(0 + 6 + 20, [0xde, 0xad, 0xbe, 0xef]),
    errorClass: TapeFormatError,
    code: 'TAPE_FORMAT',
    blockNumber: 0,
    offsetBytes: 0,
    message: /Cannot decompress block 0 at byte offset 0 .*bzip2 data is damaged/,
  },
];

describe('damaged tapes', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: typed error with block number and offset, CLI exits ${EXIT_STATUS_BY_CODE[scenario.code]}, input unchanged`, () => {
      const path = join(temp.path, `${scenario.name.replace(/\W+/g, '-')}-${scenario.vector}`);
      copyFileSync(vectorPath(scenario.vector, temp.path), path);
      scenario.damage(path);
      const before = sha256(path);
      let caught: unknown;
      try {
        listTape(path);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(scenario.errorClass);
      const error = caught as SnaptapeError;
      expect(error.message).toMatch(/^Cannot /);
      expect(error.message).toMatch(scenario.message);
      expect(error.details).toMatchObject({ blockNumber: scenario.blockNumber, offsetBytes: scenario.offsetBytes });

      for (const args of [
        ['tape', 'ls', path],
        ['tape', 'get', path, '1', join(temp.path, 'never.bin')],
        ['tape', 'put', path, path, '--dsn', 'X'],
      ]) {
        const result = runSnaptape(args);
        expect(result.status, args.join(' ')).toBe(EXIT_STATUS_BY_CODE[scenario.code]);
        expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(result.stderr).toMatch(/^snaptape: Cannot /);
        expect(result.stderr).toMatch(scenario.message);
      }
      expect(sha256(path)).toBe(before);
    });
  }
});
