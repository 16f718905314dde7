/**
 * Layer: tape/multi-volume, hostile local user. A backup that spans writes each cartridge file of
 * the library's folder anew (spanTape), and reading a multi-volume set joins its cartridges into a
 * tape under the library's staging folder (joinTapeVolumes, `LIB/staging/join-<volser>-<pid>.aws`):
 * a symbolic link (dangling, or to a file) or a hard link put at such a name, to another file, is
 * refused with a typed error naming it, and the other file is neither made, emptied nor written.
 */
import { existsSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors/snaptape-error.js';
import { joinTapeVolumes, spanTape, type SpannedVolume } from '../../src/tape/multi-volume.js';
import { runInProcessOk } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { thrown } from '../harness/thrown.js';

let dir: TempDir;
let d: (name: string) => string;
let volumes: SpannedVolume[];

beforeAll(async () => {
  dir = makeTempDir('snaptape-staging-links-');
  d = (name) => join(dir.path, name);
  await runInProcessOk(['init', d('src.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'SRC001']);
  await runInProcessOk(['fill', d('src.ckd'), '--percent', '30']);
  await runInProcessOk(['backup', d('src.ckd'), '--to', d('single.aws'), '--tape-volser', 'T00001']);
  volumes = spanTape(d('single.aws'), { capacityBytes: 200_000, nextVolume: (s) => ({ path: d(`v${s}.aws`), volser: `T0000${s}` }) });
}, 120_000);
afterAll(() => dir.cleanup());

function expectRefused(error: unknown, path: string, words: string): void {
  expect(error).toBeInstanceOf(IoError);
  expect((error as Error).message).toContain(path);
  expect((error as Error).message).toContain(words);
}

const ways = [
  [
    'spanTape (a cartridge written anew)',
    (out: string) => spanTape(d('single.aws'), { capacityBytes: 200_000, nextVolume: () => ({ path: out, volser: 'W00001' }) }),
  ],
  [
    'joinTapeVolumes (a joined staging tape)',
    (out: string) =>
      joinTapeVolumes(
        volumes.map((v) => v.path),
        out,
      ),
  ],
] as const;

describe('spanned and joined tapes are never written through a link', () => {
  let n = 0;
  for (const [way, write] of ways) {
    it(`${way}: a dangling symbolic link at the name is refused, and nothing is made where it points`, () => {
      const out = d(`out${n++}.aws`);
      const victim = `${out}.victim`;
      symlinkSync(victim, out);
      expectRefused(
        thrown(() => write(out)),
        out,
        'symbolic link',
      );
      expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
    });

    for (const [kind, link, words] of [
      ['a symbolic link', symlinkSync, 'symbolic link'],
      ['a hard link', linkSync, 'hard link'],
    ] as const) {
      it(`${way}: ${kind} to another file at the name is refused, and that file is left alone`, () => {
        const out = d(`out${n++}.aws`);
        const victim = `${out}.victim`;
        const bytes = Buffer.alloc(4096, 0x5a);
        writeFileSync(victim, bytes);
        link(victim, out);
        expectRefused(
          thrown(() => write(out)),
          out,
          words,
        );
        expect(readFileSync(victim).equals(bytes), 'the victim is neither emptied nor written').toBe(true);
      });
    }
  }

  it('a joined tape over a file of its own is written as before', () => {
    const out = d('joined.aws');
    writeFileSync(out, 'an earlier staging tape');
    joinTapeVolumes(
      volumes.map((v) => v.path),
      out,
    );
    expect(readFileSync(out).equals(readFileSync(d('single.aws')))).toBe(true);
  });
});
