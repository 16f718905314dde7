/**
 * Layer: CLI (in process) and API, hostile local user. A library stages tapes under its folder
 * `LIB/staging/`: the tape a spanning backup is split from (`<volser>-<pid>.aws`), the tape a
 * multi-volume set is joined into to be read (`join-<volser>-<pid>.aws`), and the folder a vaulted
 * set is fetched into (`vault-<volser>-<pid>/`). Whoever can write the library can put a symbolic
 * link in the staging folder's place, or at such a folder's name, to a folder elsewhere: staging
 * must not land there. Refused with a typed error naming the folder; the folder elsewhere stays empty.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultedSetTape } from '../../src/api/library-vault-api.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import type { CartridgeRecord } from '../../src/library/library-store.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** A cartridge far smaller than the backup, so that it spans. */
const CAPACITY_BYTES = 300_000;

let dir: TempDir;
let d: (name: string) => string;
beforeAll(async () => {
  dir = makeTempDir('snaptape-staging-folder-links-');
  d = (name) => join(dir.path, name);
  process.env['SNAPTAPE_CATALOG'] = d('snaptape.db');
  await runInProcessOk(['init', d('src.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'SRC001']);
  await runInProcessOk(['fill', d('src.ckd'), '--percent', '30']);
}, 60_000);
afterAll(() => {
  delete process.env['SNAPTAPE_CATALOG'];
  dir.cleanup();
});

/** Puts a symbolic link to a new, empty folder elsewhere at `at` (what was there goes); returns that folder. */
function linkToOutside(at: string, name: string): string {
  const outside = d(name);
  mkdirSync(outside);
  rmSync(at, { recursive: true, force: true });
  symlinkSync(outside, `${at}.planted`);
  renameSync(`${at}.planted`, at);
  return outside;
}

describe('a library never stages a tape outside its folder', () => {
  it('a spanning backup refuses a staging folder that is a link elsewhere: the cartridge is not moved there', async () => {
    const lib = d('lib-span');
    await runInProcessOk(['library', 'init', lib, '--cartridges', '8', '--drives', '1', '--capacity-bytes', String(CAPACITY_BYTES)]);
    const staging = join(lib, 'staging');
    const outside = linkToOutside(staging, 'outside-span');
    const r = await runInProcess(['backup', d('src.ckd'), '--to-library', lib]);
    expect(r.status, r.stdout + r.stderr).toBe(EXIT_STATUS_BY_CODE.IO);
    expect(r.stderr).toContain(staging);
    expect(readdirSync(outside), 'nothing is staged in the folder the link names').toEqual([]);
  }, 60_000);

  it('reading a spanned set refuses a staging folder that is a link elsewhere: nothing is joined there', async () => {
    const lib = d('lib-join');
    await runInProcessOk(['library', 'init', lib, '--cartridges', '8', '--drives', '1', '--capacity-bytes', String(CAPACITY_BYTES)]);
    const run = JSON.parse(await runInProcessOk(['backup', d('src.ckd'), '--to-library', lib, '--json'])) as { cartridges: { volser: string }[] };
    expect(run.cartridges.length).toBeGreaterThan(1);
    const staging = join(lib, 'staging');
    const outside = linkToOutside(staging, 'outside-join');
    const r = await runInProcess(['restore', '--library', lib, run.cartridges[0]?.volser ?? '', '--to', d('out-join.ckd'), '--new-volume']);
    expect(r.status, r.stdout + r.stderr).toBe(EXIT_STATUS_BY_CODE.IO);
    expect(r.stderr).toContain(staging);
    expect(readdirSync(outside), 'nothing is joined in the folder the link names').toEqual([]);
  }, 60_000);

  it("a vaulted set's fetch folder that is a link elsewhere is refused", async () => {
    const scratch = d('vault-A00001-1');
    linkToOutside(scratch, 'outside-vault');
    const kept: CartridgeRecord & { path: string } = {
      volser: 'A00001',
      barcode: 'A00001L4',
      pool: 'DEFAULT',
      state: 'private',
      location: 'slot',
      slot: 1,
      drive: null,
      worm: false,
      expiresAt: null,
      writtenAt: null,
      setId: null,
      setSequence: null,
      sha256: null,
      vaultUrl: null,
      path: d('src.ckd'),
    };
    const error = await vaultedSetTape([kept], 'ANY.DSN', scratch).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(IoError);
    expect((error as Error).message).toContain(scratch);
  });
});
