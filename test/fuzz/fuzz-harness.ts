/**
 * A small seeded mutation fuzzer for snaptape's parsers (issue 10, item 6). Each case takes a valid
 * input, applies a few structure-blind mutations (bit flips, interesting values, truncation,
 * extension, spliced chunks), and parses it. A case passes only if:
 * - the result is a correct parse or a typed error (a SnaptapeError) — any other throw is a crash;
 * - it finishes within the time limit (a slower case is run again, and counted as a hang only if
 *   it is slow again: a parser that loops does so every time, a busy machine does not);
 * - the input bytes are unchanged afterwards (checked by the target).
 * `FUZZ_CASES` sets the cases per parser (default 10,000, what CI runs; `npm run fuzz` runs 100,000)
 * and `SNAPTAPE_SEED` replays a run.
 */
import { Prng } from '../../src/base/prng.js';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';

export const DEFAULT_CASES = 10_000;
/** A parse slower than this on one case is a hang. */
export const CASE_TIME_LIMIT_MS = 2_000;
/** Mutations applied to one case at most. */
const MAX_MUTATIONS = 8;
const INTERESTING_BYTES = [0x00, 0x01, 0x40, 0x7f, 0x80, 0xa0, 0xf1, 0xfe, 0xff];

export interface FuzzTarget {
  readonly name: string;
  /** Valid inputs the mutations start from. */
  readonly seeds: readonly Buffer[];
  /** Mutations stay inside the first `focusBytes` bytes (the structure), when given. */
  readonly focusBytes?: number;
  /** Parses one input; throws SnaptapeError on bad input; returns false if the input was changed. */
  parse(input: Buffer): boolean | Promise<boolean>;
}

export interface FuzzReport {
  readonly name: string;
  readonly cases: number;
  readonly parsed: number;
  readonly typedErrors: number;
  readonly crashes: readonly string[];
  readonly hangs: number;
  readonly inputChanged: number;
  readonly slowestMs: number;
}

export function fuzzCases(): number {
  const fromEnv = Number(process.env['FUZZ_CASES']);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_CASES;
}

export function fuzzSeed(): number {
  const fromEnv = Number(process.env['SNAPTAPE_SEED']);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Date.now() % 2 ** 31) + 1;
}

export function mutate(prng: Prng, seed: Buffer, focusBytes?: number): Buffer {
  let out = Buffer.from(seed);
  const mutations = 1 + prng.below(MAX_MUTATIONS);
  for (let m = 0; m < mutations; m++) {
    const span = Math.max(1, Math.min(out.length, focusBytes ?? out.length));
    const at = prng.below(span);
    switch (prng.below(7)) {
      case 0:
        if (out.length > 0) out[at] = (out[at] as number) ^ (1 << prng.below(8));
        break;
      case 1:
        if (out.length > 0) out[at] = INTERESTING_BYTES[prng.below(INTERESTING_BYTES.length)] as number;
        break;
      case 2:
        if (out.length > 0) out[at] = prng.below(256);
        break;
      case 3:
        if (at + 4 <= out.length) out.writeUInt32BE(prng.nextUint32(), at);
        break;
      case 4:
        out = out.subarray(0, prng.below(out.length + 1));
        break;
      case 5: {
        const extra = Buffer.alloc(1 + prng.below(64));
        prng.fill(extra);
        out = Buffer.concat([out, extra]);
        break;
      }
      default: {
        const length = Math.min(out.length - at, 1 + prng.below(32));
        if (length > 0) {
          const from = prng.below(Math.max(1, out.length - length));
          out.copy(out, at, from, from + length);
        }
      }
    }
  }
  return Buffer.from(out);
}

export async function runFuzz(target: FuzzTarget, options: { cases: number; seed: number }): Promise<FuzzReport> {
  const prng = new Prng(options.seed);
  let parsed = 0;
  let typedErrors = 0;
  let hangs = 0;
  let inputChanged = 0;
  let slowestMs = 0;
  const crashes: string[] = [];
  for (let c = 0; c < options.cases; c++) {
    const seedInput = target.seeds[prng.below(target.seeds.length)] as Buffer;
    const input = mutate(prng, seedInput, target.focusBytes);
    const started = performance.now();
    try {
      if ((await target.parse(input)) === false) inputChanged++;
      parsed++;
    } catch (error) {
      if (error instanceof SnaptapeError) typedErrors++;
      else if (crashes.length < 10) crashes.push(`case ${c}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
      else crashes.push('…');
    }
    let ms = performance.now() - started;
    if (ms > CASE_TIME_LIMIT_MS) {
      const again = performance.now();
      try {
        await target.parse(input);
      } catch {
        // The outcome was counted the first time; only the time matters here.
      }
      ms = Math.min(ms, performance.now() - again);
    }
    slowestMs = Math.max(slowestMs, ms);
    if (ms > CASE_TIME_LIMIT_MS) hangs++;
  }
  return { name: target.name, cases: options.cases, parsed, typedErrors, crashes, hangs, inputChanged, slowestMs };
}
