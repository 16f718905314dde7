/**
 * `library inject` names the cartridge after the tape's VOL1 volser: a VOL1 whose volser is not a
 * volser (a path such as "../X", blanks) must be refused before the file moves or the catalog
 * records it, or the "cartridge" lands outside the library directory.
 */
import { existsSync, openSync, closeSync, writeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { encodeEbcdic } from '../../src/base/ebcdic.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let d: (name: string) => string;
let lib: string;

beforeAll(async () => {
  dir = makeTempDir();
  d = (name) => join(dir.path, name);
  lib = join(d('site'), 'lib');
  process.env['SNAPTAPE_CATALOG'] = d('snaptape.db');
  await runInProcessOk(['library', 'init', lib, '--cartridges', '2', '--slots', '8', '--drives', '1']);
}, 60_000);
afterAll(() => {
  delete process.env['SNAPTAPE_CATALOG'];
  dir.cleanup();
});

/** A labelled tape whose VOL1 volser field (columns 5-10) is `volser`, as written by another tool. */
async function tapeWithVolser(name: string, volser: string): Promise<string> {
  const path = d(`${name}.aws`);
  await runInProcessOk(['tape', 'init', path, '--volser', 'AAAAAA']);
  const fd = openSync(path, 'r+');
  try {
    // The AWSTAPE block header is 6 bytes; VOL1 is the first block.
    writeSync(fd, encodeEbcdic(volser.padEnd(6, ' ')), 0, 6, 6 + 4);
  } finally {
    closeSync(fd);
  }
  return path;
}

describe('library inject of a tape whose VOL1 volser is no volser', () => {
  it.each([
    ['a path up', '../X'],
    ['blanks', ''],
    ['a slash', 'A/B'],
  ])('refuses %s with a typed error, moving nothing', async (_what, volser) => {
    const tape = await tapeWithVolser(`bad-${volser.length}-${volser.replace(/\W/g, '_')}`, volser);
    const before = readdirSync(d('site')).sort();
    const r = await runInProcess(['library', 'inject', lib, tape]);
    expect(r.status, `${r.stdout}${r.stderr}`).not.toBe(0);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.LIBRARY);
    expect(r.stderr).toMatch(/volser|volume serial/i);
    expect(existsSync(tape)).toBe(true);
    expect(readdirSync(d('site')).sort()).toEqual(before);
    const listing = JSON.parse(await runInProcessOk(['library', 'ls', lib, '--json'])) as { cartridges: { volser: string }[] };
    expect(listing.cartridges.map((c) => c.volser)).not.toContain(volser);
  });
});
