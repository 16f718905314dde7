/**
 * Change tracking and incremental backups through the CLI, on real files: `track` and its
 * checkpoints (shown by `ls` and `info`), `backup --incremental` holding only the changed tracks
 * (listed by Hercules `tapemap`), `backup --since` (a differential), `restore` of a chain equal to
 * the image at the last tape's instant, `verify --chain`, and the refusals with their reasons: a
 * write that bypassed the tracker, an incremental restored alone, a broken chain.
 */
import { copyFileSync, existsSync, openSync, closeSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../harness/dasd.js';
import { hasTool, runTool } from '../harness/external-tools.js';
import type { CliResult } from '../harness/run-cli.js';
import { runInProcess } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { expectCliFailure } from './backup-test-helpers.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
/** The commands run in this process: some 35 of them would otherwise pay a start-up each. */
const runSnaptape = (args: readonly string[]): Promise<CliResult> => runInProcess(args);
async function ok(args: readonly string[]): Promise<string> {
  const result = await runInProcess(args);
  expect(result.status, `snaptape ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}
async function runSnaptapeJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await ok(args)) as T;
}

interface Summary {
  summary: {
    elements: { name: string; kind: string; blocks: number }[];
    tapeBytes: number;
    tapeSha256: string;
    chain?: { checkpoint: string; base?: { checkpoint: string; volser: string; sha256: string } };
  };
}

beforeAll(async () => {
  dir = makeTempDir();
  await ok(['init', at('v.ckd'), '--type', '3390', '--cyls', '4', '--volser', 'INC001']);
  await ok(['fill', at('v.ckd'), '--percent', '60']);
});
afterAll(() => dir.cleanup());

describe('incremental backups through the CLI', () => {
  it('tracks, backs up a full and two incrementals, and restores the chain to each instant', async () => {
    await ok(['track', at('v.ckd')]);
    const full = await runSnaptapeJson<Summary>(['backup', at('v.ckd'), '--to', at('full.aws'), '--json']);
    expect(full.summary.chain).toEqual({ checkpoint: 'full.aws' });
    expect(full.summary.tapeSha256).toBe(sha256File(at('full.aws')));
    copyFileSync(at('v.ckd'), at('ref0.ckd'));

    await ok(['alloc', at('v.ckd'), 'NEW.DATA', '--tracks', '2']);
    await ok(['put', at('v.ckd'), 'NEW.DATA', at('v.ckd.sizes')]);
    const inc1 = await runSnaptapeJson<Summary>(['backup', at('v.ckd'), '--to', at('inc1.aws'), '--incremental', '--json']);
    copyFileSync(at('v.ckd'), at('ref1.ckd'));
    expect(inc1.summary.chain).toEqual({ checkpoint: 'inc1.aws', base: { checkpoint: 'full.aws', volser: 'TINC00', sha256: full.summary.tapeSha256 } });
    // Only the changed tracks: the VTOC's and the new data set's, a few out of 60.
    const inc1Tracks = inc1.summary.elements.reduce((n, e) => n + e.blocks, 0);
    expect(inc1.summary.elements.every((e) => e.kind === 'tracks')).toBe(true);
    expect(inc1Tracks).toBeGreaterThan(0);
    expect(inc1Tracks).toBeLessThan(10);
    expect(inc1.summary.tapeBytes).toBeLessThan(full.summary.tapeBytes / 10);

    await ok(['fill', at('v.ckd'), '--percent', '5', '--seed', '9']);
    const inc2 = await runSnaptapeJson<Summary>(['backup', at('v.ckd'), '--to', at('inc2.aws'), '--incremental', '--json']);
    expect(inc2.summary.chain?.base?.checkpoint).toBe('inc1.aws');
    copyFileSync(at('v.ckd'), at('ref2.ckd'));

    const chains = [['full.aws'], ['full.aws', 'inc1.aws'], ['full.aws', 'inc1.aws', 'inc2.aws']];
    for (const [k, chain] of chains.entries()) {
      await ok(['restore', ...chain.map(at), '--to', at(`out${k}.ckd`), '--new-volume']);
      expect(sha256File(at(`out${k}.ckd`)), `chain ${chain.join(' ')}`).toBe(sha256File(at(`ref${k}.ckd`)));
    }
    const verified = await runSnaptapeJson<{ ok: boolean; tapes: { link: { problem: string | null } }[] }>([
      'verify',
      '--chain',
      at('full.aws'),
      at('inc1.aws'),
      at('inc2.aws'),
      '--json',
    ]);
    expect(verified.ok).toBe(true);
    expect(verified.tapes.map((t) => t.link.problem)).toEqual([null, null, null]);
  });

  it.skipIf(!hasTool('tapemap'))('writes an incremental tape that Hercules tapemap lists, one file per run of tracks', async () => {
    const out = runTool('tapemap', [at('inc1.aws')]);
    const report = await runSnaptapeJson<{ elements: { name: string }[] }>(['verify', at('inc1.aws'), '--json']);
    expect(out.status).toBe(0);
    expect(report.elements.length).toBeGreaterThan(0);
    for (const e of report.elements) expect(out.stdout).toContain(e.name);
    expect(out.stdout).toMatch(/TRACKS\.T\d{7}/);
  });

  it('makes a differential with --since a tape, holding every change since that tape', async () => {
    const diff = await runSnaptapeJson<Summary>(['backup', at('v.ckd'), '--to', at('diff.aws'), '--since', at('full.aws'), '--json']);
    expect(diff.summary.chain?.base?.checkpoint).toBe('full.aws');
    await ok(['restore', at('full.aws'), at('diff.aws'), '--to', at('outd.ckd'), '--new-volume']);
    expect(sha256File(at('outd.ckd'))).toBe(sha256File(at('ref2.ckd')));
  });

  it('shows the checkpoints in ls and info, and sets a named one with track --checkpoint', async () => {
    await ok(['track', at('v.ckd'), '--checkpoint', 'mine']);
    const ls = await ok(['ls', at('v.ckd')]);
    for (const name of ['full.aws', 'inc1.aws', 'inc2.aws', 'diff.aws', 'mine']) expect(ls).toMatch(new RegExp(`checkpoint ${name.replace('.', '\\.')}\\s`));
    const info = await runSnaptapeJson<{ tracking: { checkpoints: { name: string; usable: boolean }[] } }>(['info', at('v.ckd'), '--json']);
    expect(info.tracking.checkpoints.map((c) => c.name)).toEqual(['full.aws', 'inc1.aws', 'inc2.aws', 'diff.aws', 'mine']);
    // A checkpoint without a backup tape cannot be the base of a tape: the tape must name its base tape.
    expectCliFailure(await runSnaptape(['backup', at('v.ckd'), '--to', at('x.aws'), '--since', 'mine']), 'SESSION', ['no complete backup tape']);
  });

  it('refuses an incremental after a write that bypassed the tracker, with the reason, until a full backup', async () => {
    copyFileSync(at('v.ckd'), at('before-bypass.ckd'));
    const fd = openSync(at('v.ckd'), 'r+');
    writeSync(fd, Buffer.from('bypass'), 0, 6, 20 * 56832 + 4000);
    closeSync(fd);
    expectCliFailure(await runSnaptape(['backup', at('v.ckd'), '--to', at('inc3.aws'), '--incremental']), 'SESSION', [
      'modified while no tracker held it',
      'run a full backup',
    ]);
    const info = await runSnaptapeJson<{ tracking: { checkpoints: { usable: boolean }[]; invalidReason: string } }>(['info', at('v.ckd'), '--json']);
    expect(info.tracking.checkpoints.every((c) => !c.usable)).toBe(true);
    expect(info.tracking.invalidReason).toMatch(/modified while no tracker held it/);
    await ok(['backup', at('v.ckd'), '--to', at('full2.aws')]);
    await ok(['fill', at('v.ckd'), '--percent', '5', '--seed', '11']);
    await ok(['backup', at('v.ckd'), '--to', at('inc3.aws'), '--incremental']);
    await ok(['restore', at('full2.aws'), at('inc3.aws'), '--to', at('out3.ckd'), '--new-volume']);
    expect(sha256File(at('out3.ckd'))).toBe(sha256File(at('v.ckd')));
  });

  it('drills a full plus 2 incrementals under load, comparing the chain with each instant, on a scratch copy', async () => {
    await ok(['init', at('d.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'DRL001']);
    await ok(['fill', at('d.ckd'), '--percent', '50']);
    const before = sha256File(at('d.ckd'));
    const report = await runSnaptapeJson<{
      pass: boolean;
      comparison: { mismatched: number };
      incrementals: { comparison: { mismatched: number; units: number } }[];
    }>(['drill', at('d.ckd'), '--incremental', '2', '--load', 'random:100', '--json']);
    expect(report.pass).toBe(true);
    expect(report.incrementals).toHaveLength(2);
    expect(report.incrementals.map((i) => i.comparison.mismatched)).toEqual([0, 0]);
    expect(report.incrementals[0]?.comparison.units).toBe(45);
    // The image itself is neither written nor tracked: the drill ran on a scratch copy.
    expect(sha256File(at('d.ckd'))).toBe(before);
    expect(existsSync(at('d.ckd.tracking.json'))).toBe(false);
  });

  it('refuses an incremental alone, a chain out of order and a chain with another base', async () => {
    expectCliFailure(await runSnaptape(['restore', at('inc1.aws'), '--to', at('bad.ckd'), '--new-volume']), 'USAGE', ['incremental', 'restore its chain']);
    expectCliFailure(await runSnaptape(['restore', at('full.aws'), at('inc2.aws'), '--to', at('bad.ckd'), '--new-volume']), 'VERIFY', [
      'its base is checkpoint inc1.aws',
    ]);
    expectCliFailure(await runSnaptape(['restore', at('full2.aws'), at('inc1.aws'), '--to', at('bad.ckd'), '--new-volume']), 'VERIFY', ['its base is']);
    const bad = await runSnaptape(['verify', '--chain', at('inc1.aws'), at('full.aws')]);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain('a chain starts with a full backup');
    expect(bad.stderr).toMatch(/^snaptape: Cannot verify the chain/);
  });
});
