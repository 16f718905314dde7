/**
 * Layer: CLI, hostile local user. The side files that side-file-fifo.test.ts does not cover, each
 * read whole by some command: a backup's layout and bitmap (`backup --resume`), a clone's record
 * and bitmap (`info`, `clone status`), a finished backup's map (`map`), a snapshot token's record
 * (`snapshot status`), a tape library's marker (any tape write in its directory). A FIFO put in
 * the place of one must not hang the command (a blocking open that no SIGTERM ends), and a sparse
 * file of a gigabyte (no disk blocks, made in an instant) must not be read into memory: each is
 * refused in one typed line naming the file.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { killAllServers, startServe } from '../server/helpers/serve-process.js';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { runSnaptapeMeasured, type MeasuredCliResult } from '../harness/peak-rss.js';
import { runSnaptape, runSnaptapeOk, type CliResult } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** A command that would hang is killed (SIGKILL: SIGTERM does not end it) after this long. */
const HANG_MS = 20_000;
/** A sparse file this large costs no disk; reading it whole costs a gigabyte of memory. */
const HUGE = 1024 ** 3;
const MEMORY_BOUND = 512 * 1024 ** 2;

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);

/** Runs the CLI, killed with SIGKILL if it takes longer than HANG_MS (status -1). */
const runBounded = (args: readonly string[]): CliResult => runSnaptape(args, { timeoutMs: HANG_MS, killSignal: 'SIGKILL' });

function runMeasured(args: readonly string[]): MeasuredCliResult {
  return runSnaptapeMeasured(args, dir.path, { timeoutMs: 60_000 });
}

function expectBounded(r: MeasuredCliResult): void {
  expect(r.peakRssBytes, `peak RSS ${(r.peakRssBytes / 1024 ** 2).toFixed(0)} MiB; stderr: ${r.stderr}`).toBeLessThan(MEMORY_BOUND);
}

function fifoAt(path: string): void {
  rmSync(path, { force: true });
  execFileSync('mkfifo', [path]);
}

/** Replaces `path` by a sparse file of HUGE bytes. */
function sparseAt(path: string): void {
  rmSync(path, { force: true });
  execFileSync('truncate', ['-s', String(HUGE), path]);
}

/** A backup of `name` cancelled part way: its record, layout and bitmap are left beside the tape. */
async function interruptedBackup(name: string): Promise<{ source: string; tape: string }> {
  const volume = makeFilledVolume(dir.path, { cylinders: 40, seed: 7, percent: 90, name: `${name}.ckd` });
  const tape = at(`${name}.aws`);
  const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 20 });
  await new Promise((r) => setTimeout(r, 200));
  session.cancel();
  await expect(session.done).rejects.toThrow(/cancelled/);
  const source = volume.path;
  volume.close();
  return { source, tape };
}

beforeAll(() => {
  dir = makeTempDir('snaptape-records-');
  runSnaptapeOk(['init', at('v.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'REC001']);
  runSnaptapeOk(['backup', at('v.ckd'), '--to', at('t.aws')]);
}, 60_000);
afterAll(() => dir.cleanup());

describe('a backup being resumed', () => {
  it('its layout a FIFO: refused in one typed line', async () => {
    const { source, tape } = await interruptedBackup('lf');
    fifoAt(`${tape}.session.layout.json`);
    expectCliFailure(runBounded(['backup', source, '--to', tape, '--resume']), 'IO', ['lf.aws.session.layout.json', 'not a regular file']);
  }, 60_000);

  it('its layout sparse and huge: refused by its size, not read', async () => {
    const { source, tape } = await interruptedBackup('ls');
    sparseAt(`${tape}.session.layout.json`);
    const r = runMeasured(['backup', source, '--to', tape, '--resume']);
    expectCliFailure(r, 'IO', ['ls.aws.session.layout.json', `it has ${HUGE} bytes`]);
    expectBounded(r);
  }, 60_000);

  it('its bitmap a FIFO: refused in one typed line', async () => {
    const { source, tape } = await interruptedBackup('bf');
    fifoAt(`${tape}.session.bitmap`);
    expectCliFailure(runBounded(['backup', source, '--to', tape, '--resume']), 'IO', ['bf.aws.session.bitmap', 'not a regular file']);
  }, 60_000);

  it('its bitmap sparse and huge: refused by its size, not read', async () => {
    const { source, tape } = await interruptedBackup('bs');
    sparseAt(`${tape}.session.bitmap`);
    const r = runMeasured(['backup', source, '--to', tape, '--resume']);
    expectCliFailure(r, 'SESSION', ['bs.aws', 'bitmap']);
    expectBounded(r);
  }, 60_000);
});

describe('a backup being resumed, its spool', () => {
  it('a file that is not a spool given as one: refused, and left as it was', async () => {
    const { source, tape } = await interruptedBackup('sp');
    const text = 'a file of the user, not a spool: it must never be cut\n'.repeat(100);
    writeFileSync(at('notes.txt'), text);
    expectCliFailure(runBounded(['backup', source, '--to', tape, '--resume', '--spool', at('notes.txt')]), 'IO', ['notes.txt', 'not a backup spool']);
    expect(readFileSync(at('notes.txt'), 'utf8')).toBe(text);
  }, 60_000);

  it('an empty file of the user given as the spool: refused, and left where it was', async () => {
    // The interrupted backup had no spool: nothing it made can be empty and named now.
    const { source, tape } = await interruptedBackup('se');
    writeFileSync(at('empty.keep'), '');
    expectCliFailure(runBounded(['backup', source, '--to', tape, '--resume', '--spool', at('empty.keep')]), 'IO', ['empty.keep', 'empty']);
    expect(statSync(at('empty.keep')).size).toBe(0);
  }, 60_000);

  it("the backup's own spool, still empty: resumed, and removed once the tape is complete", async () => {
    const volume = makeFilledVolume(dir.path, { cylinders: 40, seed: 7, percent: 90, name: 'so.ckd' });
    const tape = at('so.aws');
    const spool = at('so.spool');
    const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 20, spoolPath: spool });
    await new Promise((r) => setTimeout(r, 200));
    session.cancel();
    await expect(session.done).rejects.toThrow(/cancelled/);
    const source = volume.path;
    volume.close();
    expect(statSync(spool).size).toBe(0);
    runSnaptapeOk(['backup', source, '--to', tape, '--resume']);
    expect(() => statSync(spool)).toThrow();
  }, 60_000);

  it('a FIFO given as the spool: refused in one typed line', async () => {
    const { source, tape } = await interruptedBackup('sf');
    fifoAt(at('spool.fifo'));
    expectCliFailure(runBounded(['backup', source, '--to', tape, '--resume', '--spool', at('spool.fifo')]), 'IO', ['spool.fifo', 'not a regular file']);
  }, 60_000);
});

describe('a new backup, its spool', () => {
  for (const which of ['source', 'tape'] as const) {
    it(`--spool naming the ${which} itself, with --force: refused before anything is written`, () => {
      const source = at(`ns-${which}.ckd`);
      runSnaptapeOk(['init', source, '--type', '3390', '--cyls', '2', '--volser', 'NSP001']);
      const tape = at(`ns-${which}.aws`);
      writeFileSync(tape, 'an older tape the --force may replace, but not by a spool\n');
      const spool = which === 'source' ? source : tape;
      const before = readFileSync(spool);
      expectCliFailure(runBounded(['backup', source, '--to', tape, '--spool', spool, '--force']), 'USAGE', [`ns-${which}`, 'spool']);
      expect(readFileSync(spool).equals(before)).toBe(true);
    }, 60_000);
  }
});

describe('a new backup with --force, its spool', () => {
  it("a file of the user's that is not a spool: refused, and left as it was", () => {
    const source = at('nf.ckd');
    runSnaptapeOk(['init', source, '--type', '3390', '--cyls', '2', '--volser', 'NSP002']);
    for (const name of ['nf-notes.txt', 'nf.ckd.sizes']) {
      const spool = at(name);
      if (name.endsWith('.txt')) writeFileSync(spool, 'notes of the user, not a spool\n');
      const before = readFileSync(spool);
      expectCliFailure(runBounded(['backup', source, '--to', at('nf.aws'), '--spool', spool, '--force']), 'USAGE', [name, 'not a backup spool']);
      expect(readFileSync(spool).equals(before)).toBe(true);
    }
    // An older spool is what --force replaces: the backup runs, and removes it once complete.
    writeFileSync(at('nf-old.spool'), 'SNAPSPL1 and what an older backup left');
    runSnaptapeOk(['backup', source, '--to', at('nf.aws'), '--spool', at('nf-old.spool'), '--force']);
    expect(() => statSync(at('nf-old.spool'))).toThrow();
  }, 60_000);
});

describe('a backup being resumed, its layout crafted', () => {
  let source = '';
  let tape = '';
  let saved = '';
  const layout = (): string => `${tape}.session.layout.json`;
  beforeAll(async () => {
    ({ source, tape } = await interruptedBackup('cr'));
    saved = readFileSync(layout(), 'utf8');
  }, 60_000);

  /** Writes the saved layout changed by `change`, resumes, and expects one typed refusal naming it, the tape unchanged. */
  function refusedWith(
    change: (file: Record<string, unknown> & { slots: Record<string, string>; elements: Record<string, unknown>[] }) => void,
    why: string,
  ): void {
    const file = JSON.parse(saved) as Parameters<typeof change>[0];
    change(file);
    writeFileSync(layout(), JSON.stringify(file));
    const tapeBytes = statSync(tape).size;
    expectCliFailure(runBounded(['backup', source, '--to', tape, '--resume']), 'SESSION', ['cr.aws.session.layout.json', why]);
    expect(statSync(tape).size).toBe(tapeBytes);
  }
  const int32Base64 = (values: number[]): string => Buffer.from(Int32Array.from(values).buffer).toString('base64');
  const slotCount = (file: { slots: Record<string, string> }): number => Buffer.from(file.slots['firstUnit'] ?? '', 'base64').length / 4;

  it('slots of 2^31 - 1 units each: refused, not walked', () => {
    refusedWith((file) => {
      file.slots['unitSpan'] = int32Base64(Array.from({ length: slotCount(file) }, () => 0x7fffffff));
    }, 'slot 0');
  }, 60_000);

  it('no slot table: refused, no crash', () => {
    refusedWith((file) => {
      delete (file as Record<string, unknown>)['slots'];
    }, 'slot table');
  }, 60_000);

  it('a unit count of 2^31 - 1: refused before anything of that size is made', () => {
    refusedWith((file) => {
      file['unitCount'] = 0x7fffffff;
    }, '2147483647 units');
  }, 60_000);

  it('a tape block of 1 GiB: refused, the tape not grown', () => {
    refusedWith((file) => {
      const bytes = Buffer.from(file.slots['lengths'] ?? '', 'base64');
      const lengths = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readInt32LE(i * 4));
      lengths[5] = 1024 ** 3;
      file.slots['lengths'] = int32Base64(lengths);
    }, 'slot 5');
  }, 60_000);

  it('nine user labels on an element: refused, no crash', () => {
    refusedWith((file) => {
      const first = file.elements[0] as { headerLabels: string[] };
      first.headerLabels = Array.from({ length: 9 }, () => first.headerLabels[0] ?? '');
    }, 'labels');
  }, 60_000);

  it('the saved layout, unchanged, resumes the backup', () => {
    writeFileSync(layout(), saved);
    const r = runBounded(['backup', source, '--to', tape, '--resume']);
    expect(r.status, r.stderr).toBe(0);
  }, 60_000);
});

describe('a clone destination', () => {
  const record = (): string => at('c.ckd.clone.json');
  const bitmap = (): string => at('c.ckd.clone.bitmap');
  beforeAll(() => {
    runSnaptapeOk(['init', at('c.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'REC002']);
    runSnaptapeOk(['clone', 'run', at('v.ckd'), at('c.ckd')]);
    copyFileSync(record(), at('c.record.saved'));
    copyFileSync(bitmap(), at('c.bitmap.saved'));
  }, 60_000);
  afterEach(() => {
    for (const [path, saved] of [
      [record(), at('c.record.saved')],
      [bitmap(), at('c.bitmap.saved')],
    ] as const) {
      rmSync(path, { force: true });
      copyFileSync(saved, path);
    }
  });

  it('its record a FIFO: info and clone status refuse it in one typed line', () => {
    fifoAt(record());
    expectCliFailure(runBounded(['info', at('c.ckd')]), 'IO', ['c.ckd.clone.json', 'not a regular file']);
    expectCliFailure(runBounded(['clone', 'status', '--target', at('c.ckd')]), 'IO', ['c.ckd.clone.json', 'not a regular file']);
  }, 60_000);

  it('its record sparse and huge: refused by its size, not read', () => {
    sparseAt(record());
    const r = runMeasured(['clone', 'status', '--target', at('c.ckd')]);
    expectCliFailure(r, 'IO', ['c.ckd.clone.json', `it has ${HUGE} bytes`]);
    expectBounded(r);
  }, 60_000);

  it('its bitmap a FIFO: clone status refuses it in one typed line', () => {
    fifoAt(bitmap());
    expectCliFailure(runBounded(['clone', 'status', '--target', at('c.ckd')]), 'IO', ['c.ckd.clone.bitmap', 'not a regular file']);
  }, 60_000);

  it('its bitmap, its header kept, made sparse and huge: refused by its size, not read', () => {
    execFileSync('truncate', ['-s', String(HUGE), bitmap()]);
    const r = runMeasured(['clone', 'status', '--target', at('c.ckd')]);
    expectCliFailure(r, 'SESSION', ['c.ckd.clone.bitmap', 'its sizes disagree']);
    expectBounded(r);
  }, 60_000);
});

describe('other side files', () => {
  it("a finished backup's map a FIFO: map refuses it in one typed line", () => {
    fifoAt(at('t.aws.map.json'));
    expectCliFailure(runBounded(['map', at('t.aws')]), 'IO', ['t.aws.map.json', 'not a regular file']);
  }, 60_000);

  it("a finished backup's map sparse and huge: refused by its size, not read", () => {
    sparseAt(at('t.aws.map.json'));
    const r = runMeasured(['map', at('t.aws')]);
    expectCliFailure(r, 'IO', ['t.aws.map.json', `it has ${HUGE} bytes`]);
    expectBounded(r);
  }, 60_000);

  it("a snapshot token's record a FIFO: snapshot status refuses it in one typed line", () => {
    mkdirSync(at('sub/tokens'), { recursive: true });
    fifoAt(at('sub/tokens/P0123456789abcdef.json'));
    expectCliFailure(runBounded(['snapshot', 'status', `P0123456789abcdef@${at('sub')}`]), 'IO', ['P0123456789abcdef.json', 'not a regular file']);
  }, 60_000);

  it("a tape library's marker a FIFO: a backup into its directory is refused in one typed line", () => {
    mkdirSync(at('lib'));
    fifoAt(at('lib/snaptape-library.json'));
    expectCliFailure(runBounded(['backup', at('v.ckd'), '--to', at('lib/x.aws')]), 'IO', ['snaptape-library.json', 'not a regular file']);
  }, 60_000);

  it("a tape library's marker sparse and huge: refused by its size, not read", () => {
    mkdirSync(at('lib2'));
    sparseAt(at('lib2/snaptape-library.json'));
    const r = runMeasured(['backup', at('v.ckd'), '--to', at('lib2/x.aws')]);
    expectCliFailure(r, 'IO', ['snaptape-library.json', `it has ${HUGE} bytes`]);
    expectBounded(r);
  }, 60_000);

  it("a served image's secondary split record a FIFO: serve starts, with the volume held as split", async () => {
    runSnaptapeOk(['init', at('s.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'REC003']);
    fifoAt(at('s.ckd.secondary-split'));
    const server = await startServe([at('s.ckd'), '--nbd', `unix:${at('s-nbd.sock')}`, '--control', at('s-ctl.sock')]);
    try {
      const volumes = await new ControlClient({ kind: 'unix', socketPath: at('s-ctl.sock') }).listVolumes();
      expect(volumes[0]?.secondarySplitAt).toBe('an unknown time (its record is unreadable)');
    } finally {
      await server.stop();
      killAllServers();
    }
  }, 60_000);

  it("a FIFO among a subsystem's pins: check, and a writer that releases finished pins, refuse it in one typed line", () => {
    runSnaptapeOk(['subsystem', 'init', at('pool'), '--type', '3390']);
    runSnaptapeOk(['init', at('pool/VOL'), '--mapped', '--type', '3390', '--cyls', '1', '--volser', 'REC004']);
    mkdirSync(at('pool/pins'), { recursive: true });
    fifoAt(at('pool/pins/P0123456789abcdef'));
    expectCliFailure(runBounded(['subsystem', 'check', at('pool')]), 'IO', ['P0123456789abcdef', 'not a regular file']);
    writeFileSync(at('pool/pins/P0123456789abcdef.done'), '');
    expectCliFailure(runBounded(['alloc', at('pool/VOL'), 'A.DATA', '--tracks', '1']), 'IO', ['P0123456789abcdef', 'not a regular file']);
  }, 60_000);
});
