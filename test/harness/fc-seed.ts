/**
 * Seeds for randomised tests (fast-check and seeded fuzzers). Every randomised test prints its seed,
 * and `SNAPTAPE_SEED=<n>` replays it, so a failure found once can be run again.
 */

/** The seed to use for the test named `name`: SNAPTAPE_SEED if set, else a fresh one, printed. */
export function fcSeed(name: string): number {
  const fromEnv = process.env['SNAPTAPE_SEED'];
  const seed = fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) : Math.floor(Math.random() * 0x7fff_ffff);
  console.log(`[${name}] seed=${seed} (replay with SNAPTAPE_SEED=${seed})`);
  return seed;
}
