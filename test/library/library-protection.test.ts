/**
 * Layers: tape library (CLI, cartridge guard in tape/tape-lock.ts). Retention and WORM are the
 * library's, enforced wherever a tape is opened for writing: each test tries one way around them
 * through snaptape's own commands, and checks the typed refusal (exit 19, cartridge protected; 20,
 * library) and that the cartridge's SHA-256 is unchanged.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { sha256File } from '../harness/dasd.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let d: (name: string) => string;
let lib: string;

const ok = runInProcessOk;
const sha256 = sha256File;

interface Cartridge {
  volser: string;
  state: string;
  location: string;
  worm: boolean;
  expiresAt: string | null;
  sha256: string | null;
  path: string;
}

async function cartridge(volser: string): Promise<Cartridge> {
  const listing = JSON.parse(await ok(['library', 'ls', lib, '--json'])) as { cartridges: Cartridge[] };
  const found = listing.cartridges.find((c) => c.volser === volser);
  if (!found) throw new Error(`no cartridge ${volser}`);
  return found;
}

async function backupToPool(pool: string): Promise<string> {
  const run = JSON.parse(await ok(['backup', d('src.ckd'), '--to-library', lib, '--pool', pool, '--json'])) as { cartridges: { volser: string }[] };
  expect(run.cartridges).toHaveLength(1);
  return run.cartridges[0]?.volser ?? '';
}

/** Runs `args`, expects exit `status` with a message matching `message`, and the cartridge's bytes unchanged. */
async function refused(volser: string, args: readonly string[], status: number, message: RegExp): Promise<void> {
  const path = join(lib, `${volser}.aws`);
  const before = sha256(path);
  const r = await runInProcess(args);
  expect(r.status, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(status);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(sha256(path)).toBe(before);
  expect(sha256(path)).toBe((await cartridge(volser)).sha256 ?? before);
}

let retained: string;
let worm: string;
let short: string;

beforeAll(async () => {
  dir = makeTempDir();
  d = (name) => join(dir.path, name);
  lib = d('lib');
  process.env['SNAPTAPE_CATALOG'] = d('snaptape.db');
  writeFileSync(d('host.txt'), 'HELLO\nWORLD\n');
  await ok(['init', d('src.ckd'), '--type', '3390', '--cyls', '2', '--volser', 'SRC001']);
  await ok(['fill', d('src.ckd'), '--percent', '20']);
  await ok(['library', 'init', lib, '--cartridges', '6', '--drives', '2']);
  await ok(['library', 'pool', lib, 'KEEP', '--range', 'A00001-A00002', '--retention-days', '30']);
  await ok(['library', 'pool', lib, 'WORM', '--range', 'A00003-A00004', '--retention-days', '0', '--worm']);
  await ok(['library', 'pool', lib, 'SHORT', '--range', 'A00005-A00006', '--retention-days', '0']);
  retained = await backupToPool('KEEP');
  worm = await backupToPool('WORM');
  short = await backupToPool('SHORT');
}, 120_000);
afterAll(() => {
  delete process.env['SNAPTAPE_CATALOG'];
  dir.cleanup();
});

describe('an expired cartridge', () => {
  it('stays private, and refuses writes, until library expire', async () => {
    expect((await cartridge(short)).expiresAt ?? '').not.toBe('');
    await refused(short, ['backup', d('src.ckd'), '--to', join(lib, `${short}.aws`), '--force'], EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED, /library expire/);
  });

  it('returns to scratch through library expire and is then reused', async () => {
    const before = sha256(join(lib, `${short}.aws`));
    const expired = JSON.parse(await ok(['library', 'expire', lib, '--json'])) as { expired: { volser: string }[] };
    expect(expired.expired.map((c) => c.volser)).toContain(short);
    expect(expired.expired.map((c) => c.volser)).not.toContain(worm);
    expect((await cartridge(short)).state).toBe('scratch');
    // A scratch cartridge in its slot is still not writable by hand: only the library mounts it for a write.
    await refused(short, ['backup', d('src.ckd'), '--to', join(lib, `${short}.aws`), '--force'], EXIT_STATUS_BY_CODE.LIBRARY, /scratch cartridge in slot/);
    await ok(['fill', d('src.ckd'), '--percent', '10', '--seed', '7']);
    expect(await backupToPool('SHORT')).toBe(short);
    expect(sha256(join(lib, `${short}.aws`))).not.toBe(before);
  });
});

describe('a cartridge under retention', () => {
  it('is private until a date 30 days after it was written', async () => {
    const c = await cartridge(retained);
    expect(c).toMatchObject({ volser: 'A00001', state: 'private', location: 'slot', worm: false });
    const days = (Date.parse(c.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  it('refuses a backup written straight to its file', async () => {
    await refused(
      retained,
      ['backup', d('src.ckd'), '--to', join(lib, `${retained}.aws`), '--force'],
      EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED,
      /cartridge A00001 .*retained until/,
    );
  });

  it('refuses tape put (an append over its end labels)', async () => {
    await refused(
      retained,
      ['tape', 'put', join(lib, `${retained}.aws`), d('host.txt'), '--dsn', 'HOST.TEXT', '--text'],
      EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED,
      /retained until/,
    );
  });

  it('refuses tape init --force (an overwrite and truncation)', async () => {
    await refused(
      retained,
      ['tape', 'init', join(lib, `${retained}.aws`), '--volser', retained, '--force'],
      EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED,
      /retained until/,
    );
  });

  it('refuses tape get writing its output over the cartridge', async () => {
    await refused(
      retained,
      ['tape', 'get', join(lib, `${worm}.aws`), '1', join(lib, `${retained}.aws`), '--force'],
      EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED,
      /retained until/,
    );
  });

  it('refuses a write through a symbolic link from outside the library', async () => {
    symlinkSync(join(lib, `${retained}.aws`), d('link.aws'));
    await refused(retained, ['backup', d('src.ckd'), '--to', d('link.aws'), '--force'], EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED, /cartridge A00001/);
  });

  it('refuses a write while mounted in a drive: mounting does not make it scratch', async () => {
    await ok(['library', 'mount', lib, retained]);
    await refused(
      retained,
      ['tape', 'put', join(lib, `${retained}.aws`), d('host.txt'), '--dsn', 'HOST.TEXT', '--text'],
      EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED,
      /retained until/,
    );
    await ok(['library', 'unmount', lib, retained]);
  });

  it('is not reused before it expires: the pool runs out of scratch instead', async () => {
    expect(await backupToPool('KEEP')).toBe('A00002');
    await refused(retained, ['backup', d('src.ckd'), '--to-library', lib, '--pool', 'KEEP'], EXIT_STATUS_BY_CODE.LIBRARY, /pool KEEP .* has none left/);
    const expired = JSON.parse(await ok(['library', 'expire', lib, '--json'])) as { expired: { volser: string }[] };
    expect(expired.expired.map((c) => c.volser)).not.toContain(retained);
    expect((await cartridge(retained)).state).toBe('private');
  });
});

describe('a WORM cartridge', () => {
  it('refuses every overwrite, append and truncation, and never expires', async () => {
    expect(await cartridge(worm)).toMatchObject({ volser: 'A00003', state: 'private', worm: true });
    const path = join(lib, `${worm}.aws`);
    await refused(worm, ['backup', d('src.ckd'), '--to', path, '--force'], EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED, /WORM cartridge/);
    await refused(worm, ['tape', 'put', path, d('host.txt'), '--dsn', 'HOST.TEXT', '--text'], EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED, /WORM cartridge/);
    await refused(worm, ['tape', 'init', path, '--volser', worm, '--force'], EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED, /WORM cartridge/);
    await ok(['library', 'expire', lib]);
    expect((await cartridge(worm)).state).toBe('private');
    // Still a good backup: verify by volser reads it.
    const verify = JSON.parse(await ok(['verify', '--library', lib, worm, '--json'])) as { ok: boolean };
    expect(verify.ok).toBe(true);
  });

  it('comes back into the library only unchanged', async () => {
    const recorded = (await cartridge(worm)).sha256;
    await ok(['library', 'eject', lib, worm, '--to', d('shelf')]);
    mkdirSync(d('tampered'));
    copyFileSync(join(d('shelf'), `${worm}.aws`), join(d('tampered'), `${worm}.aws`));
    // One byte of a data block changed: still a well-formed tape, with other contents.
    const bytes = readFileSync(join(d('tampered'), `${worm}.aws`));
    const at = bytes.length - 200;
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(join(d('tampered'), `${worm}.aws`), bytes);
    const r = await runInProcess(['library', 'inject', lib, join(d('tampered'), `${worm}.aws`)]);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.CARTRIDGE_PROTECTED);
    expect(r.stderr).toMatch(/was changed outside the library/);
    expect((await cartridge(worm)).location).toBe('ejected');
    await ok(['library', 'inject', lib, join(d('shelf'), `${worm}.aws`)]);
    expect(await cartridge(worm)).toMatchObject({ location: 'slot', sha256: recorded });
    expect(sha256(join(lib, `${worm}.aws`))).toBe(recorded);
  });
});

describe('a library directory', () => {
  it('refuses a tape that is not one of its cartridges', async () => {
    const r = await runInProcess(['backup', d('src.ckd'), '--to', join(lib, 'B00001.aws')]);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.LIBRARY);
    expect(r.stderr).toMatch(/is not one of its cartridges/);
  });

  it('a marker planted by someone else makes no catalog where it points, and writes none it names', async () => {
    // A marker anybody can put in a shared directory: the catalog it names is only read.
    mkdirSync(d('planted'));
    writeFileSync(join(d('planted'), 'snaptape-library.json'), JSON.stringify({ format: 'snaptape-library', catalog: d('nowhere.db') }));
    const none = await runInProcess(['backup', d('src.ckd'), '--to', join(d('planted'), 'X.aws')]);
    expect(none.status, none.stderr).toBe(EXIT_STATUS_BY_CODE.IO);
    expect(none.stderr).toContain(d('nowhere.db'));
    expect(existsSync(d('nowhere.db'))).toBe(false);

    const other = new Database(d('other.db'));
    other.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES ('x');");
    other.close();
    const before = sha256(d('other.db'));
    writeFileSync(join(d('planted'), 'snaptape-library.json'), JSON.stringify({ format: 'snaptape-library', catalog: d('other.db') }));
    const foreign = await runInProcess(['backup', d('src.ckd'), '--to', join(d('planted'), 'X.aws')]);
    expect(foreign.status, foreign.stderr).toBe(EXIT_STATUS_BY_CODE.IO);
    expect(foreign.stderr).toContain('not a snaptape catalog');
    expect(sha256(d('other.db'))).toBe(before);
  });
});
