/**
 * Layers: CLI + interop with the real Hercules tools. `tape init` matches `hetinit -d` (vectors 05,
 * 06) byte for byte; `tape put` tapes are listed by `hetmap`/`tapemap`, extracted by `hetget` with the
 * bytes we wrote, and copied unchanged by `hetupd -d`; `tape ls` reports what `hetmap` reports for
 * the vectors 05–09.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TapeListing } from '../../src/tape/list-tape.js';
import type { PutResult } from '../../src/tape/put-host-file.js';
import type { ExtractResult } from '../../src/tape/extract-data-set.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

const temp = makeTempDir();
afterAll(() => temp.cleanup());
const at = (name: string): string => join(temp.path, name);

interface HetmapFile {
  readonly fileNumber: number;
  readonly blocks: number;
  readonly uncompressedBytes: number;
}

/** The per-file sections and data set ids of `hetmap` output. */
function parseHetmap(stdout: string): { files: HetmapFile[]; datasetIds: string[] } {
  const files = [...stdout.matchAll(/File #\s+: (\d+)\s+Blocks\s+: (\d+)[\s\S]*?Uncompressed bytes\s+: (\d+)/g)].map((m) => ({
    fileNumber: Number(m[1]),
    blocks: Number(m[2]),
    uncompressedBytes: Number(m[3]),
  }));
  const datasetIds = [...stdout.matchAll(/Label\s+: 'HDR1'\s+Dataset ID\s+: '([^']*)'/g)].map((m) => (m[1] ?? '').trimEnd());
  return { files, datasetIds };
}

describe('tape init', () => {
  it('writes the SL blank tape of hetinit -d byte for byte (vector 05)', () => {
    expect(runSnaptape(['tape', 'init', at('sl05.aws'), '--volser', 'TAPE01', '--owner', 'HERCOWNER']).status).toBe(0);
    expect(readFileSync(at('sl05.aws')).equals(readFileSync(vectorPath('05_tape_sl_hetinit.aws', temp.path)))).toBe(true);
  });

  it('writes the NL blank tape of hetinit -d -n byte for byte (vector 06)', () => {
    expect(runSnaptape(['tape', 'init', at('nl06.aws'), '--nl']).status).toBe(0);
    expect(readFileSync(at('nl06.aws')).equals(readFileSync(vectorPath('06_tape_nl_hetinit.aws', temp.path)))).toBe(true);
  });

  it('refuses an existing file without --force, and replaces it with --force', () => {
    writeFileSync(at('exists.aws'), 'keep me');
    const refused = runSnaptape(['tape', 'init', at('exists.aws'), '--volser', 'T00001']);
    expect(refused.status).toBe(13);
    expect(refused.stderr).toMatch(/^snaptape: Cannot create tape .*exists.aws: the file exists/);
    expect(readFileSync(at('exists.aws'), 'utf8')).toBe('keep me');
    expect(runSnaptape(['tape', 'init', at('exists.aws'), '--volser', 'T00001', '--force']).status).toBe(0);
    expect(runSnaptapeJson<TapeListing>(['tape', 'ls', at('exists.aws')])).toMatchObject({ volser: 'T00001', blank: true, dataSets: [] });
  });

  it('rejects a bad volser with a usage error', () => {
    const result = runSnaptape(['tape', 'init', at('bad.aws'), '--volser', 'TOOLONG1']);
    expect(result.status).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('tape put / ls / get with the Hercules tools', () => {
  const tape = at('put.aws');
  const text = Array.from({ length: 123 }, (_, i) => `RECORD ${String(i + 1).padStart(3, '0')} OF MY.TEXT`).join('\n') + '\n';
  const binary = Buffer.from(Array.from({ length: 70_001 }, (_, k) => (k * 131 + 7) & 0xff));

  it('appends labelled data sets to a blank SL tape', () => {
    writeFileSync(at('in.txt'), text);
    writeFileSync(at('in.bin'), binary);
    expect(runSnaptape(['tape', 'init', tape, '--volser', 'SNAP01', '--owner', 'TESTS']).status).toBe(0);
    const first = runSnaptapeJson<PutResult>(['tape', 'put', tape, at('in.txt'), '--dsn', 'MY.TEXT', '--text', '--lrecl', '80', '--blksize', '800']);
    expect(first).toMatchObject({ fileSequence: 1, dsid: 'MY.TEXT', blockCount: 13, byteCount: 123 * 80, recordFormat: 'FB' });
    const second = runSnaptapeJson<PutResult>(['tape', 'put', tape, at('in.bin'), '--dsn', 'BACKUP.OF.SOMETHING.BINARY', '--recfm', 'U', '--blksize', '32760']);
    expect(second).toMatchObject({ fileSequence: 2, dsid: 'OF.SOMETHING.BINARY'.slice(-17), blockCount: 3, byteCount: 70_001 });
    const third = runSnaptapeJson<PutResult>(['tape', 'put', tape, at('in.bin'), '--dsn', 'FB.DATA', '--lrecl', '100', '--blksize', '1000']);
    expect(third).toMatchObject({ fileSequence: 3, blockCount: 71, paddingBytes: 99 });
  });

  it('tape ls lists what hetmap lists', () => {
    const listing = runSnaptapeJson<TapeListing>(['tape', 'ls', tape]);
    expect(listing.dataSets.map((d) => [d.fileSequence, d.dsname, d.recordFormat, d.blockCount])).toEqual([
      [1, 'MY.TEXT', 'FB', 13],
      [2, 'OF.SOMETHING.BINARY'.slice(-17), 'U', 3],
      [3, 'FB.DATA', 'FB', 71],
    ]);
    const hetmap = runTool('hetmap', [tape]);
    expect(hetmap.status).toBe(0);
    const parsed = parseHetmap(hetmap.stdout);
    expect(parsed.files.map((f) => [f.fileNumber, f.blocks, f.uncompressedBytes])).toEqual(listing.files.map((f) => [f.fileNumber, f.blockCount, f.byteCount]));
    expect(parsed.datasetIds).toEqual(listing.dataSets.map((d) => d.dsname));
    const tapemap = runTool('tapemap', [tape]);
    expect(tapemap.stdout).toContain('HDR1MY.TEXT');
    expect(tapemap.stdout).toContain(`EOF1${'MY.TEXT'.padEnd(17)}SNAP0100010001`);
    expect(tapemap.stdout).toMatch(/File 2: Blocks=13, block size min=240, max=800/);
    expect(tapemap.stdout).toContain('File 10: Blocks=0');
  });

  it('hetget extracts the bytes tape put wrote, and tape get agrees', () => {
    for (const [fileno, expected] of [
      ['2', binary],
      ['3', Buffer.concat([binary, Buffer.alloc(99)])],
    ] as const) {
      const out = at(`hetget-${fileno}.bin`);
      expect(runTool('hetget', [tape, out, fileno]).status).toBe(0);
      expect(readFileSync(out).equals(expected)).toBe(true);
      const ours = at(`get-${fileno}.bin`);
      const result = runSnaptapeJson<ExtractResult>(['tape', 'get', tape, fileno, ours]);
      expect(result.byteCount).toBe(expected.length);
      expect(readFileSync(ours).equals(expected)).toBe(true);
    }
    expect(runTool('hetget', ['-a', '-s', tape, at('hetget-1.txt'), '1']).status).toBe(0);
    expect(readFileSync(at('hetget-1.txt'), 'latin1').replace(/ +$/gm, '')).toBe(text);
    expect(runSnaptape(['tape', 'get', tape, '1', at('get-1.txt'), '--text']).status).toBe(0);
    expect(readFileSync(at('get-1.txt'), 'latin1')).toBe(text);
    const again = runSnaptape(['tape', 'get', tape, '1', at('get-1.txt')]);
    expect(again.status).toBe(13);
    const missing = runSnaptape(['tape', 'get', tape, '9', at('none.bin')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^snaptape: Cannot extract data set 9 .*data sets 1, 2, 3/);
  });

  it('hetupd -d reproduces our AWS file byte for byte', () => {
    expect(runTool('hetupd', ['-d', tape, at('copy.aws')]).status).toBe(0);
    expect(readFileSync(at('copy.aws')).equals(readFileSync(tape))).toBe(true);
  });

  it('appends to an NL tape and to an SL tape made by hetinit', () => {
    expect(runSnaptape(['tape', 'init', at('nl.aws'), '--nl']).status).toBe(0);
    expect(runSnaptape(['tape', 'put', at('nl.aws'), at('in.bin'), '--dsn', 'IGNORED', '--recfm', 'U', '--blksize', '65535']).status).toBe(0);
    const nl = runSnaptapeJson<TapeListing>(['tape', 'ls', at('nl.aws')]);
    expect(nl.dataSets.map((d) => d.blockCount)).toEqual([2]);
    expect(runTool('hetinit', ['-d', at('hercules.aws'), 'HERC01']).status).toBe(0);
    expect(runSnaptape(['tape', 'put', at('hercules.aws'), at('in.txt'), '--dsn', 'A.B', '--text']).status).toBe(0);
    const out = at('herc.bin');
    expect(runTool('hetget', [at('hercules.aws'), out, '1']).status).toBe(0);
    expect(readFileSync(out).length).toBe(123 * 80);
  });
});

describe('tape ls on the Hercules vectors reports what hetmap reports', () => {
  const VECTORS = [
    '05_tape_sl_hetinit.aws',
    '06_tape_nl_hetinit.aws',
    '07_tape_sl_1file.aws',
    '08_tape_nl_bigblocks.aws',
    '08_tape_nl_bigblocks_chunk4096.aws',
    '09_tape_sl_1file.zlib.het',
    '09_tape_sl_1file.bz2.het',
  ];
  for (const name of VECTORS) {
    it(name, () => {
      const path = vectorPath(name, temp.path);
      const listing = runSnaptapeJson<TapeListing>(['tape', 'ls', path]);
      const hetmap = parseHetmap(runTool('hetmap', [path]).stdout);
      expect(hetmap.files.length).toBeGreaterThan(0);
      expect(listing.files.map((f) => [f.fileNumber, f.blockCount, f.byteCount])).toEqual(
        hetmap.files.map((f) => [f.fileNumber, f.blocks, f.uncompressedBytes]),
      );
      const named = listing.labelled ? listing.dataSets.map((d) => d.dsname) : [];
      expect(named).toEqual(hetmap.datasetIds.filter((id) => !/^0+$/.test(id)));
      if (name.includes('_sl_')) expect(listing.volser).toBe('TAPE01');
    });
  }
});
