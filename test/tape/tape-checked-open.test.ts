/**
 * Layer: unit, hostile local user. A tape writer takes the tape's lock, which checks the file (a
 * library's rules, who holds it) and holds its inode, then opens the file by its name to write it.
 * Whoever can write the folder may put something else at the name in between: a symbolic link
 * (dangling, or to another file) or another file renamed there (a library cartridge renamed over a
 * scratch one's name). The writer must write only the file that was checked: `tape init --force`,
 * each volume a span writes, `tape put` (an append) and a resumed backup refuse anything else with a
 * typed error naming the tape, and the other file keeps its bytes (a dangling link's file is not
 * made, whether or not a tape was at the name when it was checked).
 */
import { copyFileSync, existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IoError } from '../../src/errors/snaptape-error.js';
import { initTape } from '../../src/tape/init-tape.js';
import { appendDataSet } from '../../src/tape/tape-appender.js';
import { openVolume } from '../../src/api/volume-api.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { spanTape } from '../../src/tape/multi-volume.js';
import { runInProcessOk } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { thrown } from '../harness/thrown.js';

/** What the hostile user does once the tape's lock has checked it: set per test. */
const afterCheck = { plant: (): void => undefined };

vi.mock('../../src/library/cartridge-guard.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/library/cartridge-guard.js')>();
  return {
    ...actual,
    checkCartridgeWritable: vi.fn((...args: Parameters<typeof actual.checkCartridgeWritable>) => {
      actual.checkCartridgeWritable(...args);
      afterCheck.plant();
      afterCheck.plant = () => undefined;
    }),
  };
});

let dir: TempDir;
let d: (name: string) => string;
beforeAll(async () => {
  dir = makeTempDir('snaptape-tape-checked-open-');
  d = (name) => join(dir.path, name);
  await runInProcessOk(['init', d('src.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'SRC001']);
  await runInProcessOk(['fill', d('src.ckd'), '--percent', '30']);
  await runInProcessOk(['backup', d('src.ckd'), '--to', d('single.aws'), '--tape-volser', 'T00001']);
}, 120_000);
afterAll(() => dir.cleanup());

function expectRefused(error: unknown, path: string): void {
  expect(error).toBeInstanceOf(IoError);
  expect((error as Error).message).toContain(path);
}

/** Puts `what` at `at` as rename(2) would (what was there goes), after it was checked. */
function linkAfterCheck(at: string, to: string): void {
  afterCheck.plant = () => {
    symlinkSync(to, `${at}.planted`);
    renameSync(`${at}.planted`, at);
  };
}

describe('tape init --force writes only the file its lock checked', () => {
  it('a symbolic link to another file put at the name after the check is refused, that file keeps its bytes', () => {
    const tape = d('init-link.aws');
    writeFileSync(tape, Buffer.alloc(1024, 0x11));
    const victim = d('init-link.victim');
    const bytes = Buffer.alloc(4096, 0x5a);
    writeFileSync(victim, bytes);
    linkAfterCheck(tape, victim);
    expectRefused(
      thrown(() => initTape(tape, { labelled: true, volser: 'V00001', force: true })),
      tape,
    );
    expect(readFileSync(victim).equals(bytes), 'the other file keeps its bytes').toBe(true);
  });

  it("a dangling symbolic link put at a new tape's name after the check is refused: nothing is made where it points", () => {
    const tape = d('init-dangling.aws');
    const victim = d('init-dangling.victim');
    linkAfterCheck(tape, victim);
    expectRefused(
      thrown(() => initTape(tape, { labelled: true, volser: 'V00002', force: true })),
      tape,
    );
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });

  it("a dangling symbolic link put at an existing tape's name after the check is refused: nothing is made where it points", () => {
    const tape = d('init-existing-dangling.aws');
    writeFileSync(tape, Buffer.alloc(1024, 0x11));
    const victim = d('init-existing-dangling.victim');
    linkAfterCheck(tape, victim);
    expectRefused(
      thrown(() => initTape(tape, { labelled: true, volser: 'V00005', force: true })),
      tape,
    );
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });

  it('another file renamed over the name after the check is refused, and keeps its bytes', () => {
    const tape = d('init-renamed.aws');
    writeFileSync(tape, Buffer.alloc(1024, 0x11));
    const other = d('init-renamed.other');
    const bytes = Buffer.alloc(4096, 0x5a);
    writeFileSync(other, bytes);
    afterCheck.plant = () => renameSync(other, tape);
    expectRefused(
      thrown(() => initTape(tape, { labelled: true, volser: 'V00003', force: true })),
      tape,
    );
    expect(readFileSync(tape).equals(bytes), 'the file renamed there keeps its bytes').toBe(true);
  });
});

describe('tape put appends only to the file its lock checked', () => {
  it('another tape renamed over the name after the check is refused, and keeps its bytes', () => {
    const tape = d('put-renamed.aws');
    initTape(tape, { labelled: true, volser: 'P00001' });
    const other = d('put-renamed.other');
    initTape(other, { labelled: true, volser: 'P00002' });
    const bytes = readFileSync(other);
    afterCheck.plant = () => renameSync(other, tape);
    expectRefused(
      thrown(() =>
        appendDataSet(tape, {
          spec: { dsname: 'PUT.DATA', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 800 },
          dataBlocks: [Buffer.alloc(800, 0x41)],
        }),
      ),
      tape,
    );
    expect(readFileSync(tape).equals(bytes), 'the tape renamed there keeps its bytes').toBe(true);
  });
});

describe('a resumed backup writes only the tape its lock checked', () => {
  it('a copy of the tape renamed over its name after the check is refused, and keeps its bytes', async () => {
    const volume = makeFilledVolume(dir.path, { cylinders: 20, seed: 3, percent: 90, name: 'resume-src.ckd' });
    const tape = d('resume.aws');
    const first = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 20 });
    await new Promise((r) => setTimeout(r, 200));
    first.cancel();
    await expect(first.done).rejects.toThrow(/cancelled/);
    const source = volume.path;
    volume.close();
    // Another file with the tape's bytes (its size and labels give nothing away), renamed over the name once checked.
    const other = d('resume.other');
    copyFileSync(tape, other);
    const bytes = readFileSync(other);
    afterCheck.plant = () => renameSync(other, tape);
    const again = openVolume(source);
    let resumed: TapeBackupSession | undefined;
    const error = thrown(() => {
      resumed = TapeBackupSession.resume(again, { tapePath: tape, workers: 1 });
    });
    await resumed?.done.catch(() => undefined);
    again.close();
    expectRefused(error, tape);
    expect(readFileSync(tape).equals(bytes), 'the file renamed there keeps its bytes').toBe(true);
  }, 60_000);
});

describe('a span writes each volume only as the file its lock checked', () => {
  it("another file renamed over a volume's name after the check is refused, and keeps its bytes", () => {
    const volume = d('span-renamed.aws');
    writeFileSync(volume, Buffer.alloc(1024, 0x11));
    const other = d('span-renamed.other');
    const bytes = Buffer.alloc(4096, 0x5a);
    writeFileSync(other, bytes);
    afterCheck.plant = () => renameSync(other, volume);
    expectRefused(
      thrown(() => spanTape(d('single.aws'), { capacityBytes: 200_000, nextVolume: () => ({ path: volume, volser: 'W00001' }) })),
      volume,
    );
    expect(readFileSync(volume).equals(bytes), 'the file renamed there keeps its bytes').toBe(true);
  });

  it("a dangling symbolic link put at a new volume's name after the check is refused: nothing is made where it points", () => {
    const volume = d('span-dangling.aws');
    const victim = d('span-dangling.victim');
    linkAfterCheck(volume, victim);
    expectRefused(
      thrown(() => spanTape(d('single.aws'), { capacityBytes: 200_000, nextVolume: () => ({ path: volume, volser: 'W00002' }) })),
      volume,
    );
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });
});

describe('tape init --force on a name that cannot be looked at', () => {
  it('a loop of symbolic links at the name is refused with a typed error naming it', () => {
    const tape = d('loop.aws');
    symlinkSync(tape, tape);
    expectRefused(
      thrown(() => initTape(tape, { labelled: true, volser: 'V00004', force: true })),
      tape,
    );
  });
});
