/**
 * Layers: CLI + interop. `restore --new-volume` of a dense volume whose tape is many times the
 * reader's 8 MiB window streams: it reads the tape once (each block hashed, then written, in one
 * pass), writes a cylinder per call rather than a track per call, and its peak resident set does
 * not grow with the tape (it exceeds a 10-cylinder restore's by less than a fixed allowance). The
 * restored image is `cmp`-identical to the source. Not timed: the counts are the child's own
 * /proc/self/io and getrusage, read as it exits.
 *
 * Where the target file exists (`--force`), the tape is still verified before the first byte is
 * written: a corrupt tape leaves that file as it was.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { sha256File } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptapeMeasured, type MeasuredCliResult } from '../harness/peak-rss.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { dataPayloadOffset, expectCliFailure } from '../backup/backup-test-helpers.js';

const MIB = 1024 * 1024;
const SLOW_MS = 300_000;
/** 400 cylinders of 15 tracks, filled: a tape of about 335 MB, 40 reader windows. */
const CYLINDERS = 400;
const TRACKS = CYLINDERS * 15;
/**
 * What a restore may hold beyond a small one's peak: the reader's 8 MiB window and one cylinder of
 * slots (0.85 MB), with room for the garbage collector's young generation. A restore that holds
 * runs of copied blocks (8 MiB of them, one allocation each) goes past it.
 */
const RSS_ALLOWANCE_BYTES = 40 * MIB;

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
let big: MeasuredCliResult;
let small: MeasuredCliResult;

function measuredRestore(tape: string, to: string): MeasuredCliResult {
  const r = runSnaptapeMeasured(['restore', tape, '--to', to, '--new-volume'], dir.path, { timeoutMs: SLOW_MS });
  expect(r.status, r.stderr).toBe(0);
  return r;
}

beforeAll(() => {
  dir = makeTempDir('snaptape-restore-stream-');
  for (const [name, cylinders] of [
    ['big', CYLINDERS],
    ['small', 10],
  ] as const) {
    runSnaptapeOk(['init', at(`${name}.ckd`), '--type', '3390', '--cyls', String(cylinders), '--volser', name.toUpperCase()]);
    runSnaptapeOk(['fill', at(`${name}.ckd`), '--percent', '100', '--seed', '7']);
    runSnaptapeOk(['backup', at(`${name}.ckd`), '--to', at(`${name}.aws`)]);
  }
  small = measuredRestore(at('small.aws'), at('small-restored.ckd'));
  big = measuredRestore(at('big.aws'), at('big-restored.ckd'));
}, SLOW_MS);
afterAll(() => dir.cleanup());

describe(`restore --new-volume of a dense ${CYLINDERS}-cylinder 3390`, () => {
  it('gives an image cmp-identical to the source', () => {
    const cmp = runTool('cmp', [at('big.ckd'), at('big-restored.ckd')], { timeoutMs: SLOW_MS });
    expect(cmp.status, cmp.stdout + cmp.stderr).toBe(0);
  });

  it('reads the tape once: hashing and writing are one pass', () => {
    const tapeBytes = statSync(at('big.aws')).size;
    expect(tapeBytes).toBeGreaterThan(300 * MIB);
    expect(big.readBytes).toBeGreaterThan(tapeBytes);
    // Beyond the tape: the modules, the labels, the source's size table. A second pass is 335 MB.
    expect(big.readBytes).toBeLessThan(tapeBytes + 32 * MIB);
  });

  it('writes a cylinder per call, not a track per call, and formats no track it restores', () => {
    // The restore writes about one call per cylinder (400 here), beside libuv's wake-ups, an eventfd
    // write each, whose count grows with the machine's load (160 under strace, up to about 1,000
    // in a loaded CI run). Creating the image formats only the tracks the tape does not hold (none
    // here): a format write per track (home address, R0, end of track, as dasdinit does) would be
    // TRACKS calls before the restore's own, a track per call 2 × TRACKS.
    expect(big.writeCalls).toBeGreaterThan(CYLINDERS);
    expect(big.writeCalls).toBeLessThan(TRACKS / 2);
  });

  it(`holds its peak resident set within ${RSS_ALLOWANCE_BYTES / MIB} MiB of a 10-cylinder restore's, and under 256 MiB`, () => {
    expect(small.peakRssBytes).toBeGreaterThan(0);
    expect(big.peakRssBytes - small.peakRssBytes).toBeLessThan(RSS_ALLOWANCE_BYTES);
    expect(big.peakRssBytes).toBeLessThan(256 * MIB);
  });
});

describe('restore --new-volume into a volume bigger than the source', () => {
  it('restores every track of the tape, and formats the tracks past them empty', () => {
    const target = at('small-bigger.ckd');
    restoreTape(at('small.aws'), { to: target, newVolume: true, cylinders: 12 });
    const source = openVolume(at('small.ckd'), { readOnly: true });
    const restored = openVolume(target, { readOnly: true });
    try {
      expect(restored.ckd.cylinders).toBe(12);
      // Track 0 (the label) and the VTOC (track 1) tell the bigger volume's size; every other slot is the source's.
      const slot = (volume: typeof source, t: number): Buffer => volume.backend.readUnit(t, volume.backend.slotBytes);
      for (let t = 2; t < 150; t++) expect(slot(restored, t).equals(slot(source, t)), `track ${t}`).toBe(true);
      for (let t = 150; t < 180; t++) expect(restored.readTrack(t).records, `track ${t}`).toEqual([]);
    } finally {
      source.close();
      restored.close();
    }
    expect(runSnaptape(['check', target]).status).toBe(0);
  });
});

describe('restore --new-volume --force over an existing file, from a corrupt tape', () => {
  it('is refused with VERIFY before the file is touched', () => {
    const tape = at('small-corrupt.aws');
    const bytes = readFileSync(at('small.aws'));
    const flip = dataPayloadOffset(at('small.aws'), 40) + 1000;
    bytes[flip] = (bytes[flip] as number) ^ 0xff;
    writeFileSync(tape, bytes);
    const target = at('small-restored.ckd');
    const before = sha256File(target);
    const r = runSnaptape(['restore', tape, '--to', target, '--new-volume', '--force']);
    expectCliFailure(r, 'VERIFY', ['FULLVOLUME.SMALL']);
    expect(sha256File(target)).toBe(before);
  });
});
