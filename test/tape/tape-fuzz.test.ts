/**
 * Layer: seeded fuzzer. Random byte damage to the SL and HET vectors never crashes the reader or
 * the label walker: each damaged tape either lists or fails with a typed SnaptapeError whose
 * message starts "Cannot". Replay a failure with FC_SEED=<printed seed>.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';
import { listTape } from '../../src/tape/list-tape.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

const temp = makeTempDir();
afterAll(() => temp.cleanup());
const SEED = Number(process.env['FC_SEED'] ?? Date.now() % 2 ** 31);

describe('damaged tape fuzzer', () => {
  for (const name of ['07_tape_sl_1file.aws', '08_tape_nl_bigblocks_chunk4096.aws', '09_tape_sl_1file.zlib.het', '09_tape_sl_1file.bz2.het']) {
    it(`${name}: any damage is listed or rejected with a typed error`, () => {
      console.info(`${name} fuzzer: fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);
      const original = readFileSync(vectorPath(name, temp.path));
      const path = join(temp.path, `fuzz-${name}`);
      fc.assert(
        fc.property(
          fc.array(fc.record({ at: fc.nat({ max: original.length - 1 }), value: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 4 }),
          fc.nat({ max: original.length }),
          (flips, keepBytes) => {
            const damaged = Buffer.from(original);
            for (const flip of flips) damaged[flip.at] = flip.value;
            writeFileSync(path, damaged.subarray(0, keepBytes === 0 ? original.length : keepBytes));
            try {
              listTape(path);
            } catch (error) {
              expect(error).toBeInstanceOf(SnaptapeError);
              expect((error as Error).message).toMatch(/^Cannot /);
            }
          },
        ),
        { numRuns: 300, seed: SEED },
      );
    });
  }
});
