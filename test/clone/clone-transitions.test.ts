/**
 * Layer: the clone's command table, every transition through the CLI and the control API of a
 * `snaptape serve` (CREATE → PRECOPY → ACTIVATE, CREATE → ACTIVATE, ACTIVE COPY), each refusal a
 * SESSION error naming the state; and, in the library, CREATE, host writes, PRECOPY, more host
 * writes, ACTIVATE, writes after it: the destination equals the source as it was at ACTIVATE.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume as makeFilledImage, startServe } from '../server/helpers/serve-process.js';
import { makeFilledVolume, makeTarget, Prng, randomHostWrite, sleepMs, slotOf } from './clone-fixtures.js';

let dir: TempDir;
let pool: CopyPool;
const SEED = Number(process.env['SNAPTAPE_SEED'] ?? 0x7a21);

beforeAll(() => {
  dir = makeTempDir('snaptape-clone-transitions-');
  pool = new CopyPool(2);
  console.log(`clone transitions: SNAPTAPE_SEED=${SEED}`);
});
afterEach(() => killAllServers());
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

interface StatusJson {
  readonly id: string;
  readonly phase: string;
  readonly op: string;
  readonly tracksLeft: number;
  readonly flags: { precopy: boolean; active: boolean };
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  // Bounded: 300 × 50 ms.
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await sleepMs(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sub(name: string): string {
  const path = join(dir.path, name);
  mkdirSync(path, { recursive: true });
  return path;
}

describe('clone command table through the CLI and the control API', () => {
  it('CREATE → PRECOPY → ACTIVATE, CREATE → ACTIVATE and ACTIVE COPY; each refusal names the state', async () => {
    const where = sub('cli');
    const source = makeFilledImage(where, 'src.ckd', { cylinders: 4, seed: SEED });
    for (const name of ['dsta', 'dstb', 'dstc']) makeTarget(where, `${name}.ckd`, { cylinders: 4 }).close();
    const socket = join(where, 'control.sock');
    const server = await startServe([source, ...['dsta', 'dstb', 'dstc'].map((n) => join(where, `${n}.ckd`)), '--control', socket]);
    const status = (id: string): StatusJson => runSnaptapeJson<StatusJson>(['clone', 'status', id, '--server', socket]);
    const refused = (args: string[], pattern: RegExp): void => {
      const r = runSnaptape([...args, '--server', socket]);
      expect(r.status, r.stderr).toBe(EXIT_STATUS_BY_CODE.SESSION);
      expect(r.stderr).toMatch(pattern);
    };

    // CREATE → PRECOPY → ACTIVATE.
    const a = runSnaptapeJson<StatusJson>(['clone', 'create', 'src', 'dsta', '--server', socket]);
    expect(a).toMatchObject({ phase: 'created', op: 'CREATE', flags: { precopy: false, active: false } });
    const precopied = runSnaptapeJson<StatusJson>(['clone', 'precopy', a.id, '--server', socket]);
    expect(precopied).toMatchObject({ phase: 'precopy', op: 'PRECOPY', flags: { precopy: true, active: false } });
    refused(['clone', 'precopy', a.id], new RegExp(`^snaptape: Cannot precopy clone session ${a.id}: it is already in PRECOPY`));
    await waitFor(() => status(a.id).tracksLeft === 0, 'the precopy');
    expect(runSnaptapeJson<StatusJson>(['clone', 'activate', a.id, '--server', socket])).toMatchObject({
      phase: 'active',
      op: 'ACTIVATE',
      flags: { precopy: true, active: true },
    });
    refused(
      ['clone', 'precopy', a.id],
      new RegExp(`^snaptape: Cannot precopy clone session ${a.id}: it is (active|copied), and PRECOPY comes before ACTIVATE`),
    );

    // CREATE → ACTIVATE, with no precopy.
    const b = runSnaptapeJson<StatusJson>(['clone', 'create', 'src', 'dstb', '--server', socket]);
    expect(b.phase).toBe('created');
    expect(runSnaptapeJson<StatusJson>(['clone', 'activate', b.id, '--server', socket])).toMatchObject({
      phase: 'active',
      flags: { precopy: false, active: true },
    });

    // ACTIVE COPY: CREATE and ACTIVATE at once; a PRECOPY after it, or both asked at CREATE, is refused.
    const bothAtOnce = runSnaptape(['clone', 'create', 'src', 'dstc', '--precopy', '--activate', '--server', socket]);
    expect(bothAtOnce.status).toBe(EXIT_STATUS_BY_CODE.USAGE);
    expect(bothAtOnce.stderr).toContain('choose --precopy or an ACTIVE COPY');
    const c = runSnaptapeJson<StatusJson>(['clone', 'create', 'src', 'dstc', '--activate', '--server', socket]);
    expect(c).toMatchObject({ op: 'ACTIVATE', flags: { precopy: false, active: true } });
    refused(
      ['clone', 'precopy', c.id],
      new RegExp(`^snaptape: Cannot precopy clone session ${c.id}: it is (active|copied), and PRECOPY comes before ACTIVATE`),
    );

    for (const s of [a, b, c]) {
      await waitFor(() => status(s.id).phase === 'copied', `the copy of ${s.id}`);
      expect(runSnaptapeJson<StatusJson>(['clone', 'terminate', s.id, '--server', socket]).phase).toBe('terminated');
    }
    refused(['clone', 'precopy', c.id], new RegExp(`Cannot precopy clone session ${c.id}: it is terminated`));
    expect((await server.stop()).code).toBe(0);
    for (const name of ['dsta', 'dstb', 'dstc']) expect(compareImages(source, join(where, `${name}.ckd`)).mismatched, name).toBe(0);
    // The record says how many tracks the destination holds from the precopy: all of A's (no host
    // writes, precopied to the end before ACTIVATE), none of B's.
    const stored = (name: string): { precopiedAtCheckpoint: number; tracksTotal: number } =>
      runSnaptapeJson(['clone', 'status', '--target', join(where, `${name}.ckd`)]);
    expect(stored('dsta').precopiedAtCheckpoint).toBe(stored('dsta').tracksTotal);
    expect(stored('dstb').precopiedAtCheckpoint).toBe(0);
    expect(runSnaptape(['clone', 'status', '--target', join(where, 'dsta.ckd')]).stdout).toContain(`0 of 60 tracks left, 60 precopied`);
  }, 120_000);
});

describe('CREATE, host writes, PRECOPY, ACTIVATE', () => {
  it('the destination equals the source as it was at ACTIVATE', async () => {
    const where = sub('lib');
    const prng = new Prng(SEED + 1);
    const source = makeFilledVolume(where, { cylinders: 4, seed: SEED + 1 });
    const target = makeTarget(where, 'target.ckd', { cylinders: 4 });
    const tracks = source.ckd.trackCount;
    try {
      const session = CloneSession.create(source, target, { pool });
      expect(session.phase).toBe('created');
      // Host writes while CREATEd: nothing is copied yet, every written track stays to copy.
      for (let i = 0; i < 20; i++) randomHostWrite(source, prng.below(tracks), prng);
      expect(session.status().tracksLeft).toBe(tracks);
      session.command('precopy');
      expect(session.phase).toBe('precopy');
      // Bounded: 200 × 20 ms; a first pass of 60 tracks takes far less.
      for (let i = 0; i < 200 && session.status().tracksLeft > 0; i++) await sleepMs(20);
      expect(session.status().tracksLeft).toBe(0);
      // Writes during the precopy: copied tracks are reopened and copied again.
      for (let i = 0; i < 20; i++) randomHostWrite(source, prng.below(tracks), prng);
      expect(session.status().recopies).toBeGreaterThan(0);
      const atActivate = Array.from({ length: tracks }, (_, t) => Buffer.from(slotOf(source, t)));
      session.command('activate');
      // Writes after ACTIVATE reach the source only; the destination keeps the instant.
      for (let i = 0; i < 20; i++) randomHostWrite(source, prng.below(tracks), prng);
      await session.whenCopied();
      session.terminate();
      for (let t = 0; t < tracks; t++) expect(slotOf(target, t).equals(atActivate[t] as Buffer), `track ${t}`).toBe(true);
    } finally {
      source.close();
      target.close();
    }
  });
});
