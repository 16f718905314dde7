/**
 * Layers: CLI scenarios. `snaptape backup --json` prints the summary's fields (elements with their
 * SHA-256, in-order and out-of-order counts, the sequential verification), checked against Hercules
 * (`hetget` bytes, `hetmap` block and file counts); no progress bar is drawn off a TTY (and one is
 * drawn on a TTY, under `script`, so that the check can fail); `snaptape drill` passes with
 * 0 mismatched and leaves the image alone; `--pause-after`/`--throttle-mbps` are accepted, and a
 * throttled backup takes at least size/rate seconds (a loose lower bound, not a timing goal).
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../harness/dasd.js';
import { hasTool, runTool } from '../harness/external-tools.js';
import { runSnaptape, runSnaptapeOk, SNAPTAPE_BIN } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { blockSha256Of, firstDataSetPayloads } from './backup-test-helpers.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
let image: string;

const ok = runSnaptapeOk;

beforeAll(() => {
  dir = makeTempDir();
  image = at('cli.ckd');
  ok(['init', image, '--type', '3390', '--cyls', '10', '--volser', 'CLI001']);
  ok(['fill', image, '--percent', '90']);
});
afterAll(() => dir.cleanup());

interface JsonRun {
  summary: {
    tapePath: string;
    source: { kind: string; typeName: string; size: number; slotBytes: number; volser: string; path: string };
    elements: { name: string; kind: string; blocks: number; bytes: number; digest: string; sha256: string }[];
    copiedInOrder: number;
    copiedOutOfOrder: number;
    bytes: number;
    seconds: number;
    mbPerSecond: number;
    tapeBytes: number;
    verification: { sizeBytes: number; entryCount: number; dataBlockCount: number; dataSetCount: number };
  };
  load: { writes: number; ratePerSecond: number; latencyP50Us: number; latencyP99Us: number; latencyMaxUs: number } | null;
}

describe('snaptape backup --json', () => {
  let run: JsonRun;
  const tape = (): string => at('json.aws');

  beforeAll(() => {
    const r = runSnaptape(['backup', image, '--to', tape(), '--load', 'random:1000', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr, 'nothing on stderr off a TTY').toBe('');
    run = JSON.parse(r.stdout) as JsonRun;
  });

  it('describes the source and the one whole-volume element with its SHA-256', () => {
    expect(run.summary.tapePath).toBe(tape());
    expect(run.summary.source).toEqual({ kind: 'ckd', typeName: '3390', size: 10, slotBytes: 56832, volser: 'CLI001', path: image });
    expect(run.summary.elements).toHaveLength(1);
    const element = run.summary.elements[0];
    expect(element).toMatchObject({ name: 'FULLVOLUME.CLI001', kind: 'volume', blocks: 150 });
    expect(element?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(element?.digest).toBe('BLKSHA256');
    // The digest is of the bytes Hercules extracts from the tape: its blocks' payloads, each hashed.
    expect(runTool('hetget', [tape(), at('json.bin'), '1']).status).toBe(0);
    const payloads = firstDataSetPayloads(tape());
    expect(sha256File(at('json.bin'))).toBe(createHash('sha256').update(Buffer.concat(payloads)).digest('hex'));
    expect(blockSha256Of(payloads)).toBe(element?.sha256);
    expect(statSync(at('json.bin')).size).toBe(element?.bytes);
  });

  it('counts every track once, in order or out of order, and its bytes', () => {
    const s = run.summary;
    expect(Number.isInteger(s.copiedInOrder) && Number.isInteger(s.copiedOutOfOrder)).toBe(true);
    expect(s.copiedInOrder + s.copiedOutOfOrder).toBe(150);
    expect(s.bytes).toBe(s.elements.reduce((n, e) => n + e.bytes, 0));
    expect(s.seconds).toBeGreaterThan(0);
    expect(s.mbPerSecond).toBeCloseTo(s.bytes / 1e6 / s.seconds, 3);
    expect(s.tapeBytes).toBe(statSync(tape()).size);
  });

  it('reports the sequential verification with the counts hetmap finds', () => {
    const v = run.summary.verification;
    const hetmap = runTool('hetmap', [tape()]);
    expect(hetmap.status).toBe(0);
    const totals = hetmap.stdout.slice(hetmap.stdout.indexOf('Summary'));
    const files = Number(/^Files\s+: (\d+)/m.exec(totals)?.[1]);
    const blocks = Number(/^Blocks\s+: (\d+)/m.exec(totals)?.[1]);
    // 150 tracks and 9 labels: VOL1 HDR1 HDR2 UHL1 UHL2, EOF1 EOF2 UTL1 (data digest) UTL2 (label digest).
    expect([files, blocks]).toEqual([4, 159]);
    // hetmap counts the tapemarks as files (header labels, data, trailer labels, and the last empty one).
    expect(v).toEqual({ sizeBytes: run.summary.tapeBytes, entryCount: blocks + files, dataBlockCount: 150, dataSetCount: 1 });
  });

  it('reports the host load', () => {
    expect(run.load).not.toBeNull();
    expect(run.load?.writes).toBeGreaterThan(0);
    expect(run.load?.latencyP99Us).toBeGreaterThanOrEqual(run.load?.latencyP50Us ?? Infinity);
  });
});

describe('the progress bar', () => {
  it('draws nothing when stderr is not a TTY (no escape codes anywhere)', () => {
    const r = runSnaptape(['backup', image, '--to', at('notty.aws'), '--load', 'random:500']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    // eslint-disable-next-line no-control-regex -- ESC is the byte this asserts on
    expect(r.stdout).not.toMatch(/\x1b/);
    expect(r.stdout).toMatch(/^Backup of .*: completed in /);
    expect(r.stdout).toMatch(/copied in order \d+, out of order \d+/);
  });

  it('is drawn on a TTY (control for the test above: under script(1) the escape codes appear)', (context) => {
    if (!hasTool('script')) {
      console.log('[backup-cli] skipping the TTY control: script(1) is not installed');
      context.skip();
      return;
    }
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(SNAPTAPE_BIN)} backup ${JSON.stringify(image)} --to ${JSON.stringify(at('tty.aws'))}`;
    const r = runTool('script', ['-qec', command, '/dev/null']);
    expect(r.status, r.stdout).toBe(0);
    // eslint-disable-next-line no-control-regex -- ESC is the byte this asserts on
    expect(r.stdout).toMatch(/\x1b\[/);
    expect(r.stdout).toMatch(/units \d+\/150/);
    expect(r.stdout).toMatch(/out of order \d+/);
  });
});

describe('snaptape drill', () => {
  it('passes with 0 mismatched under random:1000 and leaves the image, and its directory, unchanged', () => {
    const before = sha256File(image);
    const files = readdirSync(dir.path).sort();
    const out = ok(['drill', image, '--load', 'random:1000']);
    expect(out).toMatch(/Compare with the point-in-time reference: 150 units, 0 mismatched/);
    expect(out).toMatch(/^Drill PASSED$/m);
    expect(out).toMatch(/host writes during the backup: \d+/);
    expect(sha256File(image), 'the drill works on a scratch copy').toBe(before);
    expect(readdirSync(dir.path).sort(), 'no scratch files or locks left beside the image').toEqual(files);
  });
});

describe('pacing options', () => {
  it('--pause-after and --throttle-mbps are accepted and the tape verifies', () => {
    const out = ok(['backup', image, '--to', at('paced.aws'), '--pause-after', '15', '--pause-ms', '1', '--throttle-mbps', '200', '--workers', '2']);
    expect(out).toMatch(/completed in/);
    expect(ok(['verify', at('paced.aws')])).toMatch(/: OK\n/);
  });

  /** A volume no load has written: its tracks hold two full-size blocks each, as fill made them. */
  let dense: string;
  beforeAll(() => {
    dense = at('dense.ckd');
    ok(['init', dense, '--type', '3390', '--cyls', '10', '--volser', 'DNS001']);
    ok(['fill', dense, '--percent', '90']);
  });

  /** Runs a throttled backup and returns [elapsed seconds, the lower bound bytes / rate]. */
  function throttled(name: string, rateMbps: number): [number, number] {
    const started = Date.now();
    const out = ok(['backup', dense, '--to', at(name), '--workers', '1', '--throttle-mbps', String(rateMbps), '--json']);
    const elapsed = (Date.now() - started) / 1000;
    const summary = (JSON.parse(out) as JsonRun).summary;
    const bound = summary.bytes / 1e6 / rateMbps;
    console.log(
      `[backup-cli] --throttle-mbps ${rateMbps}: ${summary.bytes} bytes in ${summary.seconds.toFixed(2)} s (wall ${elapsed.toFixed(2)} s); size/rate = ${bound.toFixed(2)} s`,
    );
    expect(elapsed).toBeGreaterThanOrEqual(summary.seconds);
    return [summary.seconds, bound];
  }

  it('a backup throttled to 20 MB/s takes at least size/rate seconds', () => {
    // Unthrottled, this volume copies in about a tenth of the bound.
    const [seconds, bound] = throttled('throttle20.aws', 20);
    expect(seconds).toBeGreaterThanOrEqual(bound * 0.9);
  });

  it('a backup throttled to 2 MB/s takes at least size/rate seconds', () => {
    // Was a bug (fixed): src/engine/copy-pacing.ts:24 sleepMs sleeps at most MAX_SLEEP_MS (200 ms, line 17), and pace() (line 39) calls
    // it once per batch of 15 tracks; a batch that is more than 200 ms ahead of the rate only sleeps 200 ms, so the
    // deficit is never paid back. A full 3390 cylinder is ~0.84 MB: at 2 MB/s it is due 420 ms, it waits 200 ms.
    // Measured: 7.4 MB at --throttle-mbps 1 takes ~1.7 s (4.3 MB/s), at 2 and 5 MB/s also ~1.7 s.
    // Reproduce: snaptape init v.ckd --type 3390 --cyls 10 --volser X && snaptape fill v.ckd --percent 90 &&
    //            time snaptape backup v.ckd --to t.aws --workers 1 --throttle-mbps 1
    const [seconds, bound] = throttled('throttle2.aws', 2);
    expect(seconds).toBeGreaterThanOrEqual(bound * 0.9);
  });
});
