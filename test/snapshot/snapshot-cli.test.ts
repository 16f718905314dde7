/**
 * Layer: integration (the real CLI on dist/, and Hercules dasdls). Issue 6 acceptance:
 * - `subsystem init`, `init --mapped`, then alloc/put/get/ls on a mapped volume;
 * - the protocol with its steps apart: define → token, execute → polling token, status, each
 *   printing one JSON object with --json; used, unknown and stale tokens refused clearly;
 * - both volumes online at once with distinct volsers, each `ls` right, and `dasdls` reading the
 *   `--physical` image; data-set mode catalogues the copied data set on the target;
 * - backup of a mapped volume to tape and restore into another mapped volume, byte for byte;
 * - bad input: corrupt pool and directory files give one typed line, and the files stay as they were.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { readAllSlots } from './helpers/subsystem-fixtures.js';
import { runTool } from '../harness/external-tools.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let sub: string;
const ok = (args: string[]): string => {
  const r = runSnaptape(args);
  expect(r.status, `snaptape ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

beforeAll(() => {
  dir = makeTempDir();
  sub = join(dir.path, 'sub');
  ok(['subsystem', 'init', sub, '--type', '3390']);
  ok(['init', join(sub, 'SRC'), '--mapped', '--type', '3390', '--cyls', '20', '--volser', 'SRC001']);
  ok(['alloc', join(sub, 'SRC'), 'PROD.DATA', '--tracks', '10', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800']);
  ok(['alloc', join(sub, 'SRC'), 'TEST.DATA', '--tracks', '5', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800']);
  writeFileSync(join(dir.path, 'prod.txt'), Array.from({ length: 300 }, (_, i) => `prod record ${i}`).join('\n') + '\n');
  writeFileSync(join(dir.path, 'test.txt'), 'test data\n');
  ok(['put', join(sub, 'SRC'), 'PROD.DATA', join(dir.path, 'prod.txt'), '--text']);
  ok(['put', join(sub, 'SRC'), 'TEST.DATA', join(dir.path, 'test.txt'), '--text']);
});
afterAll(() => dir.cleanup());

describe('mapped volumes in the CLI', () => {
  it('ls, alloc, put and get work on a mapped volume', () => {
    const listing = runSnaptapeJson<{ volser: string; datasets: Array<{ name: string; tracks: number }> }>(['ls', join(sub, 'SRC')]);
    expect(listing.volser).toBe('SRC001');
    expect(listing.datasets.map((d) => [d.name, d.tracks])).toEqual([
      ['PROD.DATA', 10],
      ['TEST.DATA', 5],
    ]);
    expect(ok(['get', join(sub, 'SRC'), 'PROD.DATA', '--text'])).toBe(readFileSync(join(dir.path, 'prod.txt'), 'utf8'));
  });

  it('the protocol: define, execute, status as JSON; both volumes online with their own volsers; dasdls reads --physical', async () => {
    const physical = join(dir.path, 'snap.ckd');
    const defined = runSnaptapeJson<{ token: string; mode: string }>(['snapshot', 'define', join(sub, 'SRC'), join(sub, 'SNAP'), '--volser', 'SNP001']);
    expect(defined.mode).toBe('volume');
    expect(defined.token).toMatch(/^S[0-9a-f]{16}@/);
    const executed = runSnaptapeJson<{ pollingToken: string; state: string }>(['snapshot', 'execute', defined.token, '--physical', physical]);
    expect(executed.pollingToken).toMatch(/^P[0-9a-f]{16}@/);
    // Both volumes are in use while the physical copy runs in its own process.
    writeFileSync(join(dir.path, 'new.txt'), 'written after the snapshot\n');
    ok(['put', join(sub, 'SRC'), 'TEST.DATA', join(dir.path, 'new.txt'), '--text']);
    let status = runSnaptapeJson<{ state: string; volser: string }>(['snapshot', 'status', executed.pollingToken]);
    expect(['copying', 'complete']).toContain(status.state);
    for (let i = 0; i < 100 && status.state === 'copying'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = runSnaptapeJson(['snapshot', 'status', executed.pollingToken]);
    }
    expect(status.state).toBe('complete');
    const src = runSnaptapeJson<{ volser: string; datasets: Array<{ name: string }> }>(['ls', join(sub, 'SRC')]);
    const snap = runSnaptapeJson<{ volser: string; datasets: Array<{ name: string }> }>(['ls', join(sub, 'SNAP')]);
    expect([src.volser, snap.volser]).toEqual(['SRC001', 'SNP001']);
    expect(snap.datasets.map((d) => d.name)).toEqual(['PROD.DATA', 'TEST.DATA']);
    expect(ok(['get', join(sub, 'SNAP'), 'TEST.DATA', '--text'])).toBe('test data\n');
    expect(ok(['get', join(sub, 'SRC'), 'TEST.DATA', '--text'])).toBe('written after the snapshot\n');
    const dasdls = runTool('dasdls', [physical]);
    expect(dasdls.stdout).toContain('VOLSER=SNP001');
    expect(dasdls.stdout).toContain('PROD.DATA');
    expect(dasdls.stdout).toContain('TEST.DATA');
    // A used token is refused, and so are unknown ones.
    const again = runSnaptape(['snapshot', 'execute', defined.token]);
    expect(again.status).toBe(15);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/Cannot execute snapshot token .*: it was already executed/);
    const unknown = runSnaptape(['snapshot', 'execute', `S0123456789abcdef@${sub}`]);
    expect(unknown.stderr).toMatch(/^snaptape: Cannot use token .*: unknown token/);
    const garbage = runSnaptape(['snapshot', 'status', '../../etc/passwd']);
    expect(garbage.status).toBe(15);
    expect(garbage.stderr).toMatch(/unknown token/);
  });

  it('a token whose extents changed since define is stale', () => {
    ok(['init', join(sub, 'DST'), '--mapped', '--type', '3390', '--cyls', '20', '--volser', 'DST001']);
    const defined = runSnaptapeJson<{ token: string }>(['snapshot', 'define', join(sub, 'SRC'), join(sub, 'DST'), '--datasets', 'TEST.*']);
    ok(['delete', join(sub, 'DST'), 'TEST.DATA']);
    ok(['alloc', join(sub, 'DST'), 'OTHER.DATA', '--tracks', '3']);
    ok(['alloc', join(sub, 'DST'), 'TEST.DATA', '--tracks', '5']);
    const r = runSnaptape(['snapshot', 'execute', defined.token]);
    expect(r.status).toBe(15);
    expect(r.stderr).toMatch(/it is stale/);
  });

  it("data-set mode copies the chosen data sets into the target's extents and catalogues them", () => {
    ok(['init', join(sub, 'DS2'), '--mapped', '--type', '3390', '--cyls', '20', '--volser', 'DS2001']);
    ok(['alloc', join(sub, 'DS2'), 'FILLER', '--tracks', '7']);
    const result = runSnaptapeJson<{ state: string; datasets: Array<{ name: string; tracks: number }> }>([
      'snapshot',
      join(sub, 'SRC'),
      join(sub, 'DS2'),
      '--datasets',
      'PROD.**',
    ]);
    expect(result.state).toBe('complete');
    expect(result.datasets).toEqual([{ name: 'PROD.DATA', tracks: 10 }]);
    const listing = runSnaptapeJson<{ volser: string; datasets: Array<{ name: string; extents: Array<{ begin: { cylinder: number; head: number } }> }> }>([
      'ls',
      join(sub, 'DS2'),
    ]);
    expect(listing.volser).toBe('DS2001');
    expect(listing.datasets.map((d) => d.name)).toEqual(['FILLER', 'PROD.DATA']);
    expect(ok(['get', join(sub, 'DS2'), 'PROD.DATA', '--text'])).toBe(readFileSync(join(dir.path, 'prod.txt'), 'utf8'));
    const src = runSnaptapeJson<{ datasets: Array<{ name: string; extents: Array<{ begin: { cylinder: number; head: number } }> }> }>(['ls', join(sub, 'SRC')]);
    // The copy sits at other tracks than the source's: the tracks were relocated by pointer.
    expect(listing.datasets[1]!.extents[0]!.begin).not.toEqual(src.datasets[0]!.extents[0]!.begin);
    const check = runSnaptapeJson<{ clean: boolean; miscounted: number }>(['subsystem', 'check', sub]);
    expect(check).toMatchObject({ clean: true, miscounted: 0 });
  });

  it('a mapped volume backs up to tape and restores into another mapped volume byte for byte', () => {
    const tape = join(dir.path, 'src.aws');
    ok(['backup', join(sub, 'SRC'), '--to', tape, '--workers', '1']);
    ok(['verify', tape]);
    ok(['init', join(sub, 'RST'), '--mapped', '--type', '3390', '--cyls', '20', '--volser', 'RST001']);
    ok(['restore', tape, '--to', join(sub, 'RST')]);
    const restored = runSnaptapeJson<{ volser: string; datasets: Array<{ name: string }> }>(['ls', join(sub, 'RST')]);
    expect(restored.volser).toBe('SRC001');
    expect(ok(['get', join(sub, 'RST'), 'PROD.DATA', '--text'])).toBe(readFileSync(join(dir.path, 'prod.txt'), 'utf8'));
    // `snaptape compare` reads plain images only (drill-api), so the two volumes are compared here.
    const [a, b] = [join(sub, 'SRC'), join(sub, 'RST')].map((p) => {
      const volume = openVolume(p, { readOnly: true });
      try {
        return readAllSlots(volume);
      } finally {
        volume.close();
      }
    });
    a!.forEach((slot, t) => expect(slot.equals(b![t]!), `track ${t} restored byte for byte`).toBe(true));
  });

  it('corrupt pool and directory files give one typed line and stay unchanged', () => {
    const bad = makeTempDir();
    try {
      const s = join(bad.path, 'sub');
      ok(['subsystem', 'init', s, '--type', '3390']);
      ok(['init', join(s, 'V'), '--mapped', '--type', '3390', '--cyls', '2', '--volser', 'V00001']);
      const cases: Array<{ file: string; mutate: (b: Buffer) => Buffer; args: string[]; code: number; message: RegExp }> = [
        {
          file: 'pool.slots',
          mutate: (b) => {
            const c = Buffer.from(b);
            c.write('XXXX', 0);
            return c;
          },
          args: ['ls', join(s, 'V')],
          code: 3,
          message: /Cannot open the track pool .*pool\.slots: it does not start with "SNAPPOOL"/,
        },
        {
          file: 'pool.slots',
          mutate: (b) => b.subarray(0, b.length - 100),
          args: ['subsystem', 'check', s],
          code: 3,
          message: /not the header plus whole 56832-byte slots/,
        },
        {
          file: 'V',
          mutate: (b) => b.subarray(0, b.length - 8),
          args: ['ls', join(s, 'V')],
          code: 3,
          message: /Cannot open the mapped volume .*\/V: .*truncated/,
        },
        {
          file: 'V',
          mutate: (b) => {
            const c = Buffer.from(b);
            c.writeUInt32LE(0x7fff_0000, 64 + 8);
            return c;
          },
          args: ['subsystem', 'check', s, '--repair'],
          code: 3,
          message: /track 1 of .*points at slot 2147418112, outside the pool/,
        },
        {
          file: 'pool.refs',
          mutate: (b) => {
            const c = Buffer.from(b);
            c.writeUInt32LE(999_999, 12);
            return c;
          },
          args: ['alloc', join(s, 'V'), 'A', '--tracks', '1'],
          code: 3,
          message: /Cannot open the reference counts .*claims 999999 slots/,
        },
      ];
      for (const c of cases) {
        const path = join(s, c.file);
        const original = readFileSync(path);
        const broken = c.mutate(original);
        writeFileSync(path, broken);
        const snapshotOfFiles = ['pool.slots', 'pool.refs', 'V'].map((f) => readFileSync(join(s, f)));
        const r = runSnaptape(c.args);
        expect(r.status, `${c.args.join(' ')}: ${r.stderr}`).toBe(c.code);
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
        expect(r.stderr).toMatch(c.message);
        ['pool.slots', 'pool.refs', 'V'].forEach((f, i) =>
          expect(readFileSync(join(s, f)).equals(snapshotOfFiles[i]!), `${f} unchanged by ${c.args[0]}`).toBe(true),
        );
        writeFileSync(path, original);
      }
      const notMapped = runSnaptape(['snapshot', 'define', join(dir.path, 'prod.txt'), join(s, 'X'), '--volser', 'X']);
      expect(notMapped.stderr).toMatch(/Cannot snapshot .*prod\.txt: it is not a mapped volume/);
    } finally {
      bad.cleanup();
    }
  });
});
