/**
 * Layers: tape library (CLI, tape/multi-volume, real Hercules tools). A backup larger than one
 * cartridge spans several: each cartridge is a standard-labelled tape that Hercules `hetmap` and
 * `tapemap` read, ending in EOV1 EOV2 but the last (EOF1 EOF2); `restore --library VOLSER` loads
 * them in order and gives back the source as it was at the backup instant.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinTapeVolumes, spanTape } from '../../src/tape/multi-volume.js';
import { buildVaultManifest, manifestIndex } from '../../src/vault/vault-manifest.js';
import { labelBlockNumbers } from '../../src/vault/vault-fetch.js';
import { openBackupTape } from '../../src/techniques/restore/backup-tape.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runTool } from '../harness/external-tools.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { sha256File } from '../harness/dasd.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** A cartridge far smaller than the backup, so it spans 3 or more (a 3390 track is one block of up to 56 KB). */
const CAPACITY_BYTES = 300_000;

let dir: TempDir;
let d: (name: string) => string;

const ok = runInProcessOk;
const sha256 = sha256File;

interface Cartridge {
  volser: string;
  barcode: string;
  state: string;
  location: string;
  setSequence: number | null;
  sha256: string | null;
  path: string;
}

let written: Cartridge[];

beforeAll(async () => {
  dir = makeTempDir();
  d = (name) => join(dir.path, name);
  process.env['SNAPTAPE_CATALOG'] = d('snaptape.db');
  await ok(['init', d('src.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'SRC001']);
  await ok(['fill', d('src.ckd'), '--percent', '30']);
  await ok(['library', 'init', d('lib'), '--cartridges', '8', '--drives', '1', '--capacity-bytes', String(CAPACITY_BYTES)]);
  const run = JSON.parse(await ok(['backup', d('src.ckd'), '--to-library', d('lib'), '--json'])) as { cartridges: Cartridge[] };
  const listing = JSON.parse(await ok(['library', 'ls', d('lib'), '--json'])) as { cartridges: Cartridge[] };
  written = listing.cartridges.filter((c) => run.cartridges.some((w) => w.volser === c.volser));
}, 120_000);
afterAll(() => {
  delete process.env['SNAPTAPE_CATALOG'];
  dir.cleanup();
});

describe('a backup larger than a cartridge', () => {
  it('spans several private cartridges, in order, none larger than the capacity', () => {
    expect(written.length).toBeGreaterThanOrEqual(2);
    expect(written.map((c) => c.setSequence)).toEqual(written.map((_, i) => i + 1));
    for (const c of written) {
      expect(c).toMatchObject({ state: 'private', location: 'slot', barcode: `${c.volser}E` });
      expect(readFileSync(c.path).length).toBeLessThanOrEqual(CAPACITY_BYTES);
      expect(sha256(c.path)).toBe(c.sha256);
    }
  });

  it('is read by tapemap and hetmap on every cartridge, with EOV labels on all but the last', () => {
    written.forEach((c, i) => {
      const last = i === written.length - 1;
      const tapemap = runTool('tapemap', [c.path]);
      expect(tapemap.status, tapemap.stderr).toBe(0);
      expect(tapemap.stdout).toContain(`VOL1${c.volser}`);
      expect(tapemap.stdout).toContain('End of tape.');
      // HDR1: data set serial is the first cartridge's volser; volume sequence i+1; file sequence 1.
      expect(tapemap.stdout).toContain(`HDR1FULLVOLUME.SRC001${written[0]?.volser}${String(i + 1).padStart(4, '0')}0001`);
      expect(tapemap.stdout.includes('EOV1FULLVOLUME.SRC001')).toBe(!last);
      expect(tapemap.stdout.includes('EOV2')).toBe(!last);
      expect(tapemap.stdout.includes('EOF1FULLVOLUME.SRC001')).toBe(last);
      const hetmap = runTool('hetmap', ['-a', c.path]);
      expect(hetmap.status, hetmap.stderr).toBe(0);
      expect(hetmap.stdout).toContain(`Volume Serial       : '${c.volser}'`);
      expect(hetmap.stdout).toContain(`Volume Sequence     : '${String(i + 1).padStart(4, '0')}'`);
      expect(hetmap.stdout).toContain(`Dataset Position    : '${i === 0 ? 0 : 1}'`);
      expect(hetmap.stdout.includes("Label               : 'EOV1'")).toBe(!last);
    });
  });

  it('verifies and restores by volser, loading the cartridges in order, equal to the source', async () => {
    // Named by its second cartridge: the whole set is read.
    const verify = JSON.parse(await ok(['verify', '--library', d('lib'), written[1]?.volser ?? '', '--json'])) as { ok: boolean };
    expect(verify.ok).toBe(true);
    await ok(['restore', '--library', d('lib'), written[0]?.volser ?? '', '--to', d('out.ckd'), '--new-volume']);
    // Nothing wrote the source during the backup, so the source is the backup instant.
    const compare = await runInProcess(['compare', d('src.ckd'), d('out.ckd')]);
    expect(compare.status, compare.stdout + compare.stderr).toBe(0);
    expect(sha256(d('out.ckd'))).toBe(sha256(d('src.ckd')));
  });

  it('refuses to restore from a set with a cartridge missing from the library', async () => {
    const second = written[1]?.volser ?? '';
    await ok(['library', 'eject', d('lib'), second, '--to', d('shelf')]);
    const r = await runInProcess(['restore', '--library', d('lib'), written[0]?.volser ?? '', '--to', d('out2.ckd'), '--new-volume']);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.LIBRARY);
    expect(r.stderr).toMatch(new RegExp(`cartridge ${second} is ejected`));
    await ok(['library', 'inject', d('lib'), join(d('shelf'), `${second}.aws`)]);
  });
});

describe('a spanning backup that runs out of scratch cartridges', () => {
  it('fails with one line and leaves no cartridge private: the incomplete set is not kept', async () => {
    await ok(['library', 'init', d('small'), '--cartridges', '2', '--drives', '1', '--capacity-bytes', String(CAPACITY_BYTES)]);
    const r = await runInProcess(['backup', d('src.ckd'), '--to-library', d('small')]);
    expect(r.status, r.stderr).toBe(EXIT_STATUS_BY_CODE.LIBRARY);
    expect(r.stderr).toMatch(/pool DEFAULT .* has none left/);
    const listing = JSON.parse(await ok(['library', 'ls', d('small'), '--json'])) as { cartridges: Cartridge[] };
    expect(listing.cartridges.map((c) => [c.volser, c.state, c.location])).toEqual([
      ['A00001', 'scratch', 'slot'],
      ['A00002', 'scratch', 'slot'],
    ]);
  });
});

describe('spanTape and joinTapeVolumes', () => {
  it('join gives back the spanned tape byte for byte', async () => {
    await ok(['backup', d('src.ckd'), '--to', d('single.aws'), '--tape-volser', 'T00001']);
    const volumes = spanTape(d('single.aws'), {
      capacityBytes: 200_000,
      nextVolume: (sequence) => ({ path: d(`v${sequence}.aws`), volser: `T0000${sequence}` }),
    });
    expect(volumes.length).toBeGreaterThanOrEqual(3);
    joinTapeVolumes(
      volumes.map((v) => v.path),
      d('joined.aws'),
    );
    expect(sha256(d('joined.aws'))).toBe(sha256(d('single.aws')));
  });

  it('joins partly fetched cartridges (a vaulted set read in place) into a tape as sparse as they are', async () => {
    // A bigger source, so that the data blocks not fetched dwarf the labels.
    await ok(['init', d('big.ckd'), '--type', '3390', '--cyls', '20', '--volser', 'BIG001']);
    await ok(['fill', d('big.ckd'), '--percent', '100']);
    await ok(['backup', d('big.ckd'), '--to', d('big.aws'), '--tape-volser', 'B00001']);
    const volumes = spanTape(d('big.aws'), {
      capacityBytes: 8_000_000,
      nextVolume: (sequence) => ({ path: d(`b${sequence}.aws`), volser: `B0000${sequence}` }),
    });
    expect(volumes.length).toBeGreaterThanOrEqual(2);
    // Each cartridge as a vaulted one is read in place: a sparse file of its size holding only its
    // label blocks, read through the index its manifest gives (vault-fetch.ts fetches the same).
    const partials = volumes.map((v, i) => {
      const manifest = buildVaultManifest(v.path, v.volser);
      const path = d(`partial${i + 1}.aws`);
      const index = manifestIndex(manifest, path);
      const whole = readFileSync(v.path);
      const fd = openSync(path, 'w');
      ftruncateSync(fd, manifest.sizeBytes);
      for (const b of labelBlockNumbers(manifest)) {
        const entry = index.entryAt(b);
        if (entry !== undefined) writeSync(fd, whole, entry.offsetBytes, entry.endOffsetBytes - entry.offsetBytes, entry.offsetBytes);
      }
      closeSync(fd);
      return { path, index };
    });
    const { sizeBytes } = joinTapeVolumes(
      partials.map((p) => p.path),
      d('partial-joined.aws'),
      partials.map((p) => p.index),
    );
    expect(sizeBytes).toBeGreaterThan(10_000_000);
    // The blocks not fetched are holes in the joined tape too. What it allocates is the labels and,
    // for each data block, the file-system block (4 KiB) its 6-byte header lies in: with blocks of a
    // 3390 track (56 KB), about 7% of the size, where a dense join allocates all of it.
    const allocated = statSync(d('partial-joined.aws')).blocks * 512;
    expect(allocated, `the joined tape allocates ${allocated} of its ${sizeBytes} bytes`).toBeLessThan(sizeBytes / 8);
    // And it reads as the same tape: its labels, its structure and the elements it names.
    const joined = openBackupTape(d('partial-joined.aws'));
    const full = openBackupTape(d('big.aws'));
    expect(joined.elements.map((e) => e.name)).toEqual(full.elements.map((e) => e.name));
    joined.reader.close();
    full.reader.close();
    // Where every block is there, the sparse join is byte for byte the spanned tape (zero runs are holes, which read as zeros).
    joinTapeVolumes(
      volumes.map((v) => v.path),
      d('big-joined.aws'),
    );
    expect(sha256(d('big-joined.aws'))).toBe(sha256(d('big.aws')));
  }, 60_000);

  it('refuses to join volumes out of order', () => {
    expect(() => joinTapeVolumes([d('v2.aws'), d('v1.aws')], d('bad.aws'))).toThrow(/starts with section 2 of file 1, without the volumes before it/);
    expect(() => joinTapeVolumes([d('v1.aws'), d('v3.aws')], d('bad.aws'))).toThrow(/section 3, expected file 1 section 2/);
  });

  it('refuses a capacity that cannot hold one block', () => {
    expect(() => spanTape(d('single.aws'), { capacityBytes: 1000, nextVolume: (s) => ({ path: d(`w${s}.aws`), volser: `W0000${s}` }) })).toThrow(
      /cannot hold its labels and the/,
    );
  });
});
