/**
 * Layer: CLI (in process), hostile local user. `backup --to-library` writes the scratch cartridge
 * it takes, `LIB/<volser>.aws`, a name in the library's folder, which whoever can write the library
 * can fill: a symbolic link or a hard link put in a scratch cartridge's place, to another file
 * (holding the cartridge's own bytes, so that nothing else gives it away), is refused with a typed
 * error naming it, and the other file is neither emptied nor written.
 */
import { linkSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let d: (name: string) => string;

beforeAll(async () => {
  dir = makeTempDir('snaptape-cartridge-links-');
  d = (name) => join(dir.path, name);
  process.env['SNAPTAPE_CATALOG'] = d('snaptape.db');
  await runInProcessOk(['init', d('src.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'SRC001']);
  await runInProcessOk(['fill', d('src.ckd'), '--percent', '30']);
}, 60_000);
afterAll(() => {
  delete process.env['SNAPTAPE_CATALOG'];
  dir.cleanup();
});

describe('a library backup never writes its cartridge through a link', () => {
  for (const [kind, link, words] of [
    ['a symbolic link', symlinkSync, 'symbolic link'],
    ['a hard link', linkSync, 'hard link'],
  ] as const) {
    it(`refuses ${kind} in a scratch cartridge's place, and leaves the other file alone`, async () => {
      const lib = d(`lib-${kind.replace(/ /g, '-')}`);
      await runInProcessOk(['library', 'init', lib, '--cartridges', '1', '--drives', '1']);
      const cartridge = join(lib, 'A00001.aws');
      const victim = d(`victim-${kind.replace(/ /g, '-')}.aws`);
      const bytes = readFileSync(cartridge);
      writeFileSync(victim, bytes);
      unlinkSync(cartridge);
      link(victim, cartridge);
      const r = await runInProcess(['backup', d('src.ckd'), '--to-library', lib]);
      expect(r.status, r.stdout + r.stderr).toBe(EXIT_STATUS_BY_CODE.IO);
      expect(r.stderr).toContain(cartridge);
      expect(r.stderr).toContain(words);
      expect(readFileSync(victim).equals(bytes), 'the victim is neither emptied nor written').toBe(true);
    }, 60_000);
  }
});

describe('tape put never appends to a mounted cartridge through a link', () => {
  for (const [kind, link, words] of [
    ['a symbolic link', symlinkSync, 'symbolic link'],
    ['a hard link', linkSync, 'hard link'],
  ] as const) {
    it(`refuses ${kind} in a mounted cartridge's place, and leaves the other file alone`, async () => {
      const lib = d(`put-${kind.replace(/ /g, '-')}`);
      await runInProcessOk(['library', 'init', lib, '--cartridges', '1', '--drives', '1']);
      await runInProcessOk(['library', 'mount', lib, 'A00001']);
      const cartridge = join(lib, 'A00001.aws');
      const victim = d(`put-victim-${kind.replace(/ /g, '-')}.aws`);
      const bytes = readFileSync(cartridge);
      writeFileSync(victim, bytes);
      unlinkSync(cartridge);
      link(victim, cartridge);
      writeFileSync(d('host.txt'), 'HELLO\n');
      const r = await runInProcess(['tape', 'put', cartridge, d('host.txt'), '--dsn', 'HOST.TEXT', '--text']);
      expect(r.status, r.stdout + r.stderr).toBe(EXIT_STATUS_BY_CODE.IO);
      expect(r.stderr).toContain(cartridge);
      expect(r.stderr).toContain(words);
      expect(readFileSync(victim).equals(bytes), 'the victim is not written').toBe(true);
    }, 60_000);
  }
});

describe('a library backup never finishes its cartridge through a link put there meanwhile', () => {
  it("refuses a symbolic link that took the cartridge's place during the copy, and leaves the other file alone", async () => {
    const lib = d('finish-lib');
    await runInProcessOk(['library', 'init', lib, '--cartridges', '1', '--drives', '1']);
    await runInProcessOk(['library', 'mount', lib, 'A00001']);
    const cartridge = join(lib, 'A00001.aws');
    makeFilledVolume(dir.path, { cylinders: 10, seed: 14, percent: 100, name: 'big.ckd' }).close();
    const volume = openVolume(d('big.ckd'));
    try {
      // 8.5 MB at 4 MB/s: the copy lasts about 2 s.
      const session = TapeBackupSession.start(volume, { tapePath: cartridge, force: true, throttleMbps: 4 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(session.state, 'the copy is still running').toBe('running');
      const victim = d('finish-victim.aws');
      const bytes = Buffer.alloc(64 * 1024, 0x5a);
      writeFileSync(victim, bytes);
      unlinkSync(cartridge);
      symlinkSync(victim, cartridge);
      const outcome = await session.done.then(
        () => undefined,
        (error: unknown) => error,
      );
      // The finish refuses the link ("symbolic link"); under load a read of the tape by its name
      // (the digest pass) may come first and find the other file too short, or a copy worker that
      // opens the tape only now refuses it (not the file the copy was started for): a typed error
      // naming the cartridge either way, and nothing written through the link.
      expect(outcome).toBeInstanceOf(IoError);
      expect((outcome as Error).message).toContain(cartridge);
      expect((outcome as Error).message).toMatch(/symbolic link|the tape ends at byte|not the file the copy was started for/);
      expect(readFileSync(victim).equals(bytes), 'the victim is not written').toBe(true);
    } finally {
      volume.close();
    }
  }, 60_000);
});

describe('a resumed library backup never reopens its cartridge through a link', () => {
  for (const [kind, link, words] of [
    ['a symbolic link', symlinkSync, 'symbolic link'],
    ['a hard link', linkSync, 'hard link'],
  ] as const) {
    it(`refuses ${kind} in an interrupted cartridge's place, and leaves the other file alone`, async () => {
      const lib = d(`resume-${kind.replace(/ /g, '-')}`);
      await runInProcessOk(['library', 'init', lib, '--cartridges', '1', '--drives', '1']);
      await runInProcessOk(['library', 'mount', lib, 'A00001']);
      const cartridge = join(lib, 'A00001.aws');
      const name = `resume-${kind.replace(/ /g, '-')}.ckd`;
      makeFilledVolume(dir.path, { cylinders: 10, seed: 15, percent: 100, name }).close();
      let volume = openVolume(d(name));
      try {
        const session = TapeBackupSession.start(volume, { tapePath: cartridge, force: true, throttleMbps: 4 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        session.cancel();
        await expect(session.done).rejects.toThrow(/cancelled/);
      } finally {
        volume.close();
      }
      // The victim holds the interrupted cartridge's own bytes: nothing but the link gives it away.
      const victim = d(`resume-victim-${kind.replace(/ /g, '-')}.aws`);
      const bytes = readFileSync(cartridge);
      writeFileSync(victim, bytes);
      unlinkSync(cartridge);
      link(victim, cartridge);
      volume = openVolume(d(name));
      try {
        let error: unknown;
        try {
          const resumed = TapeBackupSession.resume(volume, { tapePath: cartridge });
          await resumed.done;
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(IoError);
        expect((error as Error).message).toContain(cartridge);
        expect((error as Error).message).toContain(words);
      } finally {
        volume.close();
      }
      expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
    }, 60_000);
  }
});
