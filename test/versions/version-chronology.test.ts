/**
 * The chronology scenario of issue 9 (Acceptance): seven versions over two target pools, source s3
 * added before version 3 and source s1 removed before version 5 (version 5 is pre-paired while s1
 * is still there, so its PPR follows the leave). Issue 21 adds versions 8 and 9: before them the
 * spare targets leave their pools, s3 leaves and s4 joins, so s4 can only take the target that
 * s3's broken pair frees in the same version (patent step 614). After each version the test states every record:
 * the copy record at T_n (before the copies) and, at T_n+, the RRs and PPRs left, each target's
 * reservation, the version states and the storage media of the version. Each version's tapes are
 * written onto its target FBA volumes, so right after it is made each version restores, equal to a
 * reference copy of each source taken at that version's instant; at the end the two complete
 * versions still restore, and a replaced one is refused (its targets hold a later version).
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { listNotifications, listRecords, listStorageMedia, listVersions, type CopyPair } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { createVersion, prepairVersion, type CreateVersionResult } from '../../src/techniques/versions/version-create.js';
import { leavePool } from '../../src/techniques/versions/pool-membership.js';
import { restoreFromVersion } from '../../src/techniques/versions/version-restore.js';
import { Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { addVolumes, makePool, makeSource, makeTapeTarget, openTestCatalog } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
const s: Record<string, string> = {};
const t: Record<string, string> = {};
/** Reference copies of each source at each version's instant: `${version}:${source}` → path. */
const references = new Map<string, string>();

const pair = (source: string, target: string): CopyPair => ({ sourcePath: s[source] as string, targetPath: t[target] as string, technology: 'tape' });

/** Changes a few tracks of every source so that each version holds different contents. */
function touchSources(seed: number): void {
  const prng = new Prng(seed);
  for (const path of Object.values(s)) {
    const volume = openVolume(path);
    try {
      for (let k = 0; k < 3; k++) randomHostWrite(volume, 20 + prng.below(volume.ckd.trackCount - 20), prng);
      volume.sync();
    } finally {
      volume.close();
    }
  }
}

async function makeVersion(version: number, pool: string, sources: readonly string[]): Promise<CreateVersionResult> {
  touchSources(version * 7919);
  for (const name of sources) {
    const ref = join(dir.path, `ref-v${version}-${name}.ckd`);
    copyFileSync(s[name] as string, ref);
    references.set(`${version}:${name}`, ref);
  }
  const result = await createVersion(catalog, { sourcePool: 'SRC', targetPool: pool });
  for (const name of sources) await expectRestores(version, name);
  return result;
}

/** Restores one source from a version and compares it with the reference taken at its instant. */
async function expectRestores(version: number, name: string): Promise<void> {
  const to = join(dir.path, `restored-v${version}-${name}.ckd`);
  await restoreFromVersion(catalog, { version, sourcePath: s[name], to, newVolume: true, force: true });
  expect({ version, name, ...compareImages(references.get(`${version}:${name}`) as string, to) }).toMatchObject({ version, name, mismatched: 0 });
}

function records(): { kind: string; version: number; pool: string; pairs: readonly CopyPair[] }[] {
  return listRecords(catalog.db).map((r) => ({ kind: r.kind, version: r.version, pool: r.targetPool, pairs: r.pairs }));
}

/** Every target volume's reservation, by short name (null: free). */
function reservations(): Record<string, string | null> {
  const byPath = new Map(Object.entries(s).map(([k, v]) => [v, k]));
  const out: Record<string, string | null> = {};
  for (const [name, path] of Object.entries(t)) {
    const row = catalog.db.prepare('SELECT reserved_for, reserved_in_version FROM volumes WHERE path = ?').get(path) as {
      reserved_for: string | null;
      reserved_in_version: number | null;
    };
    expect(row.reserved_in_version).toBeNull();
    out[name] = row.reserved_for === null ? null : (byPath.get(row.reserved_for) ?? row.reserved_for);
  }
  return out;
}

function states(): string[] {
  return listVersions(catalog.db).map((v) => `${v.version}:${v.targetPool}:${v.state}:${v.basis}`);
}

function media(version: number): string[] {
  return listStorageMedia(catalog.db, version).map((m) => {
    // The tape lives on the target volume itself.
    expect([m.technology, m.copyPath]).toEqual(['tape', m.targetPath]);
    return `${m.sourcePath}->${m.copyPath}`;
  });
}
const tapeOf = (source: string, target: string): string => `${s[source]}->${t[target]}`;

beforeAll(() => {
  dir = makeTempDir('snaptape-chrono-');
  catalog = openTestCatalog(dir.path);
  makePool(catalog, 'SRC', 'source');
  makePool(catalog, '01', 'target');
  makePool(catalog, '02', 'target');
  for (const [name, seed] of [
    ['s1', 11],
    ['s2', 12],
  ] as const)
    s[name] = makeSource(dir.path, name, seed);
  for (const name of ['a1', 'a2', 'a3', 'b1', 'b2', 'b3']) t[name] = makeTapeTarget(dir.path, name);
  addVolumes(catalog, 'SRC', [s['s1'] as string, s['s2'] as string]);
  addVolumes(catalog, '01', [t['a1'], t['a2'], t['a3']] as string[], 'tape');
  addVolumes(catalog, '02', [t['b1'], t['b2'], t['b3']] as string[], 'tape');
});
afterAll(() => {
  catalog.close();
  dir.cleanup();
});

describe('seven versions over two target pools', () => {
  it('keeps exactly the expected records after each version', async () => {
    // Version 1, pool 01: no PPR, no earlier RR of pool 01: every source paired afresh.
    const v1 = await makeVersion(1, '01', ['s1', 's2']);
    expect([v1.basis, v1.basisVersion, v1.replacedVersion, v1.comparison.equal]).toEqual(['fresh', null, null, true]);
    expect(v1.copyRecord).toEqual([pair('s1', 'a1'), pair('s2', 'a2')]);
    expect(v1.added).toEqual([pair('s1', 'a1'), pair('s2', 'a2')]);
    expect(v1.dropped).toEqual([]);
    expect(records()).toEqual([{ kind: 'RR', version: 1, pool: '01', pairs: [pair('s1', 'a1'), pair('s2', 'a2')] }]);
    expect(reservations()).toEqual({ a1: 's1', a2: 's2', a3: null, b1: null, b2: null, b3: null });
    expect(states()).toEqual(['1:01:complete:fresh']);
    expect(media(1)).toEqual([tapeOf('s1', 'a1'), tapeOf('s2', 'a2')]);

    // Version 2, pool 02: fresh again (pool 02 has no RR yet); RR 1 stays, it is pool 01's.
    const v2 = await makeVersion(2, '02', ['s1', 's2']);
    expect([v2.basis, v2.basisVersion, v2.replacedVersion, v2.comparison.equal]).toEqual(['fresh', null, null, true]);
    expect(v2.copyRecord).toEqual([pair('s1', 'b1'), pair('s2', 'b2')]);
    expect(records()).toEqual([
      { kind: 'RR', version: 1, pool: '01', pairs: [pair('s1', 'a1'), pair('s2', 'a2')] },
      { kind: 'RR', version: 2, pool: '02', pairs: [pair('s1', 'b1'), pair('s2', 'b2')] },
    ]);
    expect(reservations()).toEqual({ a1: 's1', a2: 's2', a3: null, b1: 's1', b2: 's2', b3: null });
    expect(states()).toEqual(['1:01:complete:fresh', '2:02:complete:fresh']);
    expect(media(2)).toEqual([tapeOf('s1', 'b1'), tapeOf('s2', 'b2')]);

    // s3 joins the source pool. Version 3, pool 01: from RR 1, verified: s3 paired with a3.
    s['s3'] = makeSource(dir.path, 's3', 13);
    addVolumes(catalog, 'SRC', [s['s3']]);
    const v3 = await makeVersion(3, '01', ['s1', 's2', 's3']);
    expect([v3.basis, v3.basisVersion, v3.replacedVersion, v3.comparison.equal]).toEqual(['RR', 1, 1, true]);
    expect(v3.added).toEqual([pair('s3', 'a3')]);
    expect(v3.dropped).toEqual([]);
    expect(v3.copyRecord).toEqual([pair('s1', 'a1'), pair('s2', 'a2'), pair('s3', 'a3')]);
    expect(records()).toEqual([
      { kind: 'RR', version: 2, pool: '02', pairs: [pair('s1', 'b1'), pair('s2', 'b2')] },
      { kind: 'RR', version: 3, pool: '01', pairs: [pair('s1', 'a1'), pair('s2', 'a2'), pair('s3', 'a3')] },
    ]);
    expect(reservations()).toEqual({ a1: 's1', a2: 's2', a3: 's3', b1: 's1', b2: 's2', b3: null });
    expect(states()).toEqual(['1:01:replaced:fresh', '2:02:complete:fresh', '3:01:complete:RR']);
    expect(media(3)).toEqual([tapeOf('s1', 'a1'), tapeOf('s2', 'a2'), tapeOf('s3', 'a3')]);

    // Version 4, pool 02: from RR 2, s3 paired with b3; RR 2 deleted.
    const v4 = await makeVersion(4, '02', ['s1', 's2', 's3']);
    expect([v4.basis, v4.basisVersion, v4.replacedVersion, v4.comparison.equal]).toEqual(['RR', 2, 2, true]);
    expect(v4.added).toEqual([pair('s3', 'b3')]);
    expect(v4.copyRecord).toEqual([pair('s1', 'b1'), pair('s2', 'b2'), pair('s3', 'b3')]);
    expect(records()).toEqual([
      { kind: 'RR', version: 3, pool: '01', pairs: [pair('s1', 'a1'), pair('s2', 'a2'), pair('s3', 'a3')] },
      { kind: 'RR', version: 4, pool: '02', pairs: [pair('s1', 'b1'), pair('s2', 'b2'), pair('s3', 'b3')] },
    ]);
    expect(reservations()).toEqual({ a1: 's1', a2: 's2', a3: 's3', b1: 's1', b2: 's2', b3: 's3' });
    expect(states()).toEqual(['1:01:replaced:fresh', '2:02:replaced:fresh', '3:01:complete:RR', '4:02:complete:RR']);

    // Version 5 is pre-paired (from RR 3) while s1 is still a source; then s1 leaves the pool.
    const ppr5 = prepairVersion(catalog, { version: 5, sourcePool: 'SRC', targetPool: '01' });
    expect(ppr5.pairs).toEqual([pair('s1', 'a1'), pair('s2', 'a2'), pair('s3', 'a3')]);
    expect(records().map((r) => `${r.kind}${r.version}`)).toEqual(['RR3', 'RR4', 'PPR5']);
    // The leave updates PPR 5 (issue 21): s1's pair is dropped with a notification; a1 stays
    // reserved while RR 3 holds the same pair.
    leavePool(catalog, 'SRC', s['s1'] as string);
    expect(records().find((r) => r.kind === 'PPR')?.pairs).toEqual([pair('s2', 'a2'), pair('s3', 'a3')]);
    expect(listNotifications(catalog.db).map((n) => n.message)).toEqual([`PPR 5: ${s['s1']} left pool SRC: pair ${s['s1']} -> ${t['a1']} dropped`]);
    expect(reservations()).toEqual({ a1: 's1', a2: 's2', a3: 's3', b1: 's1', b2: 's2', b3: 's3' });
    // Version 5, pool 01: from PPR 5; replacing version 3 breaks RR 3's pair of s1, a1 free.
    const v5 = await makeVersion(5, '01', ['s2', 's3']);
    expect([v5.basis, v5.basisVersion, v5.replacedVersion, v5.comparison.equal]).toEqual(['PPR', null, 3, true]);
    expect(v5.dropped).toEqual([]);
    expect(v5.added).toEqual([]);
    expect(v5.copyRecord).toEqual([pair('s2', 'a2'), pair('s3', 'a3')]);
    expect(records()).toEqual([
      { kind: 'RR', version: 4, pool: '02', pairs: [pair('s1', 'b1'), pair('s2', 'b2'), pair('s3', 'b3')] },
      { kind: 'RR', version: 5, pool: '01', pairs: [pair('s2', 'a2'), pair('s3', 'a3')] },
    ]);
    expect(reservations()).toEqual({ a1: null, a2: 's2', a3: 's3', b1: 's1', b2: 's2', b3: 's3' });
    expect(states()).toEqual(['1:01:replaced:fresh', '2:02:replaced:fresh', '3:01:replaced:RR', '4:02:complete:RR', '5:01:complete:PPR']);
    expect(media(5)).toEqual([tapeOf('s2', 'a2'), tapeOf('s3', 'a3')]);

    // Version 6, pool 02: from RR 4, s1's pair dropped and broken, b1 free.
    const v6 = await makeVersion(6, '02', ['s2', 's3']);
    expect([v6.basis, v6.basisVersion, v6.replacedVersion, v6.comparison.equal]).toEqual(['RR', 4, 4, true]);
    expect(v6.dropped).toEqual([pair('s1', 'b1')]);
    expect(v6.copyRecord).toEqual([pair('s2', 'b2'), pair('s3', 'b3')]);
    expect(records()).toEqual([
      { kind: 'RR', version: 5, pool: '01', pairs: [pair('s2', 'a2'), pair('s3', 'a3')] },
      { kind: 'RR', version: 6, pool: '02', pairs: [pair('s2', 'b2'), pair('s3', 'b3')] },
    ]);
    expect(reservations()).toEqual({ a1: null, a2: 's2', a3: 's3', b1: null, b2: 's2', b3: 's3' });

    // Version 7, pool 01: from RR 5, nothing dropped or added.
    const v7 = await makeVersion(7, '01', ['s2', 's3']);
    expect([v7.basis, v7.basisVersion, v7.replacedVersion, v7.comparison.equal]).toEqual(['RR', 5, 5, true]);
    expect([v7.added, v7.dropped]).toEqual([[], []]);
    expect(v7.copyRecord).toEqual([pair('s2', 'a2'), pair('s3', 'a3')]);
    expect(records()).toEqual([
      { kind: 'RR', version: 6, pool: '02', pairs: [pair('s2', 'b2'), pair('s3', 'b3')] },
      { kind: 'RR', version: 7, pool: '01', pairs: [pair('s2', 'a2'), pair('s3', 'a3')] },
    ]);
    expect(reservations()).toEqual({ a1: null, a2: 's2', a3: 's3', b1: null, b2: 's2', b3: 's3' });
    expect(states()).toEqual([
      '1:01:replaced:fresh',
      '2:02:replaced:fresh',
      '3:01:replaced:RR',
      '4:02:replaced:RR',
      '5:01:replaced:PPR',
      '6:02:complete:RR',
      '7:01:complete:RR',
    ]);
    // Issue 21: the spare targets leave their pools (a free target leaves at once), s3 leaves the
    // source pool and s4 joins it. Before version 8 every record is stated.
    leavePool(catalog, '01', t['a1'] as string);
    leavePool(catalog, '02', t['b1'] as string);
    leavePool(catalog, 'SRC', s['s3'] as string);
    s['s4'] = makeSource(dir.path, 's4', 14);
    addVolumes(catalog, 'SRC', [s['s4']]);
    expect(records()).toEqual([
      { kind: 'RR', version: 6, pool: '02', pairs: [pair('s2', 'b2'), pair('s3', 'b3')] },
      { kind: 'RR', version: 7, pool: '01', pairs: [pair('s2', 'a2'), pair('s3', 'a3')] },
    ]);
    expect(reservations()).toEqual({ a1: null, a2: 's2', a3: 's3', b1: null, b2: 's2', b3: 's3' });
    // Version 8, pool 02: from RR 6; s3's pair is broken and its target b3, the only one s4 can
    // take, is paired with s4 in the same version.
    const v8 = await makeVersion(8, '02', ['s2', 's4']);
    expect([v8.basis, v8.basisVersion, v8.replacedVersion, v8.comparison.equal]).toEqual(['RR', 6, 6, true]);
    expect([v8.dropped, v8.added]).toEqual([[pair('s3', 'b3')], [pair('s4', 'b3')]]);
    expect(v8.copyRecord).toEqual([pair('s2', 'b2'), pair('s4', 'b3')]);
    expect(records()).toEqual([
      { kind: 'RR', version: 7, pool: '01', pairs: [pair('s2', 'a2'), pair('s3', 'a3')] },
      { kind: 'RR', version: 8, pool: '02', pairs: [pair('s2', 'b2'), pair('s4', 'b3')] },
    ]);
    expect(reservations()).toEqual({ a1: null, a2: 's2', a3: 's3', b1: null, b2: 's2', b3: 's4' });
    expect(media(8)).toEqual([tapeOf('s2', 'b2'), tapeOf('s4', 'b3')]);

    // Version 9, pool 01: from RR 7, the same: a3 goes from s3 to s4.
    const v9 = await makeVersion(9, '01', ['s2', 's4']);
    expect([v9.basis, v9.basisVersion, v9.replacedVersion, v9.comparison.equal]).toEqual(['RR', 7, 7, true]);
    expect([v9.dropped, v9.added]).toEqual([[pair('s3', 'a3')], [pair('s4', 'a3')]]);
    expect(records()).toEqual([
      { kind: 'RR', version: 8, pool: '02', pairs: [pair('s2', 'b2'), pair('s4', 'b3')] },
      { kind: 'RR', version: 9, pool: '01', pairs: [pair('s2', 'a2'), pair('s4', 'a3')] },
    ]);
    expect(reservations()).toEqual({ a1: null, a2: 's2', a3: 's4', b1: null, b2: 's2', b3: 's4' });
    expect(states().slice(5)).toEqual(['6:02:replaced:RR', '7:01:replaced:RR', '8:02:complete:RR', '9:01:complete:RR']);
    expect(media(9)).toEqual([tapeOf('s2', 'a2'), tapeOf('s4', 'a3')]);
    expect(catalog.db.prepare("SELECT COUNT(*) AS n FROM records WHERE kind = 'COPY'").get()).toEqual({ n: 0 });
    // Nine versions, each restored at once: about 30 s alone, more on a loaded CI machine.
  }, 120_000);

  it('restores the complete versions, and refuses a replaced one', async () => {
    expect(references.size).toBe(2 + 2 + 3 + 3 + 2 + 2 + 2 + 2 + 2);
    for (const version of [8, 9]) for (const name of ['s2', 's4']) await expectRestores(version, name);
    await expect(restoreFromVersion(catalog, { version: 7, sourcePath: s['s2'], to: join(dir.path, 'old.ckd'), newVolume: true })).rejects.toThrow(
      /^Cannot restore .*s2\.ckd from version 7: it was replaced, and its tape target .*a2\.img now holds a later version of pool 01$/,
    );
    // Consecutive versions really differ: the comparison would catch a tape of the wrong version.
    expect(compareImages(references.get('1:s2') as string, references.get('9:s2') as string).mismatched).toBeGreaterThan(0);
  });
});
