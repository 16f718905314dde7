/**
 * `snaptape serve --tape full.aws`: the volume a backup tape holds, exported read-only over NBD with
 * no restore. A real client's copy (nbdcopy) equals the restored volume byte for byte; with the CKD
 * device header in front it is a volume `ls`, `get` and Hercules `dasdls` read; writes are refused
 * with EPERM; `nbdinfo --map` shows each track's block as data and the rest of its slot as zeroes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdErrno } from '../../src/export/nbd-constants.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { runTool } from '../harness/external-tools.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { createVolume } from '../../src/volume/open-volume.js';
import { SeededRandom } from '../export/helpers/seeded-random.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from './helpers/serve-process.js';

/** The Hercules CKD device header before track 0 (the export starts at track 0). */
const CKD_HEADER_BYTES = 512;
const CYLINDERS = 4;

describe('serve --tape', () => {
  let dir: TempDir;
  let serve: ServeProcess;
  let url: string;
  let restored: string;
  let source: string;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-serve-tape-');
    source = makeFilledVolume(dir.path, 'src.ckd', { cylinders: CYLINDERS, volser: 'TAPE01', seed: 5 });
    runSnaptapeOk(['backup', source, '--to', join(dir.path, 'full.aws')]);
    restored = join(dir.path, 'restored.ckd');
    runSnaptapeOk(['restore', join(dir.path, 'full.aws'), '--to', restored, '--new-volume']);
    const socket = join(dir.path, 'tape.nbd.sock');
    serve = await startServe(['--tape', join(dir.path, 'full.aws'), '--nbd', `unix:${socket}`, '--control', join(dir.path, 'ctl.sock')]);
    url = `nbd+unix:///full?socket=${socket}`;
  }, 120_000);

  afterAll(async () => {
    await serve?.stop();
    killAllServers();
    dir.cleanup();
  });

  it('exports the tape read-only under the tape name', () => {
    expect(serve.info.nbd.exports).toEqual([
      { name: 'full', path: join(dir.path, 'full.aws'), sizeBytes: readFileSync(restored).length - CKD_HEADER_BYTES, readOnly: true },
    ]);
  });

  it('nbdcopy of the export equals the restored volume byte for byte', async () => {
    const copy = join(dir.path, 'copy.raw');
    const result = await runToolAsync('nbdcopy', ['--allocated', url, copy]);
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(copy).equals(readFileSync(restored).subarray(CKD_HEADER_BYTES))).toBe(true);
  });

  it('a client copy with the device header is a volume ls, get and dasdls read', async () => {
    const copy = join(dir.path, 'copy2.raw');
    const result = await runToolAsync('nbdcopy', [url, copy]);
    expect(result.status, result.stderr).toBe(0);
    const image = join(dir.path, 'fromtape.ckd');
    writeFileSync(image, Buffer.concat([readFileSync(restored).subarray(0, CKD_HEADER_BYTES), readFileSync(copy)]));
    const listed = JSON.parse(runSnaptapeOk(['ls', image, '--json'])) as { volser: string; datasets: { name: string }[] };
    const original = JSON.parse(runSnaptapeOk(['ls', source, '--json'])) as { volser: string; datasets: { name: string }[] };
    expect(listed.volser).toBe('TAPE01');
    expect(listed.datasets.map((d) => d.name)).toEqual(original.datasets.map((d) => d.name));
    const first = original.datasets[0]?.name ?? '';
    runSnaptapeOk(['get', image, first, join(dir.path, 'fromtape.dat')]);
    runSnaptapeOk(['get', source, first, join(dir.path, 'fromsource.dat')]);
    expect(readFileSync(join(dir.path, 'fromtape.dat')).equals(readFileSync(join(dir.path, 'fromsource.dat')))).toBe(true);
    const dasdls = runTool('dasdls', [image]);
    expect(dasdls.status, dasdls.stderr).toBe(0);
    expect(dasdls.stdout).toContain(first);
  });

  it('refuses writes with EPERM', async () => {
    const client = await NbdClient.connect({ socketPath: join(dir.path, 'tape.nbd.sock'), exportName: 'full' });
    try {
      await expect(client.write(0, Buffer.alloc(512, 1))).rejects.toMatchObject({ details: { errno: NbdErrno.EPERM } });
    } finally {
      await client.disconnect();
    }
    const tool = await runToolAsync('qemu-io', ['-f', 'raw', url, '-c', 'write 0 512']);
    expect(`${tool.stdout}${tool.stderr}`).toMatch(/read-only|Permission denied|not permitted/i);
  });

  it('nbdinfo --map: each track block is data, the rest of its slot a hole of zeroes', async () => {
    const result = await runToolAsync('nbdinfo', ['--json', '--map', url]);
    expect(result.status, result.stderr).toBe(0);
    const map = JSON.parse(result.stdout) as { offset: number; length: number; type: number }[];
    const view = readFileSync(restored).subarray(CKD_HEADER_BYTES);
    expect(map.reduce((sum, e) => sum + e.length, 0)).toBe(view.length);
    for (const e of map.filter((m) => m.type === 3)) expect(view.subarray(e.offset, e.offset + e.length).every((b) => b === 0)).toBe(true);
    expect(map.filter((m) => m.type === 0).length).toBeGreaterThan(CYLINDERS * 15 - 1);
  });

  it('a tape that is not a whole-volume backup, or tapes that are no chain, are refused with one clear line', () => {
    const listed = JSON.parse(runSnaptapeOk(['ls', source, '--json'])) as { datasets: { name: string }[] };
    const dsTape = join(dir.path, 'ds.aws');
    runSnaptapeOk(['backup', source, '--to', dsTape, '--datasets', listed.datasets[0]?.name ?? '']);
    const partial = runSnaptape(['serve', '--tape', dsTape, '--nbd', `unix:${join(dir.path, 'y.sock')}`, '--control', join(dir.path, 'y.ctl')]);
    expect(partial.status).not.toBe(0);
    expect(partial.stderr.trim().split('\n')).toHaveLength(1);
    expect(partial.stderr).toMatch(/not a whole-volume backup/);
    const chain = runSnaptape(['serve', '--tape', join(dir.path, 'full.aws'), join(dir.path, 'full.aws'), '--nbd', `unix:${join(dir.path, 'x.sock')}`]);
    expect(chain.status).not.toBe(0);
    expect(chain.stderr).toMatch(/full\.aws does not follow: it is not an incremental/);
    const none = runSnaptape(['serve']);
    expect(none.status).not.toBe(0);
    expect(none.stderr).toMatch(/image or a --tape/);
  });
});

describe('serve --tape of an FBA backup', () => {
  it('nbdcopy of the export equals the restored FBA volume', async () => {
    const dir = makeTempDir('snaptape-serve-tape-fba-');
    let serve: ServeProcess | undefined;
    try {
      const source = join(dir.path, 'src.fba');
      const volume = createVolume(source, { type: 'fba', blocks: 3000, volser: 'FBA001' });
      const rng = new SeededRandom(31);
      for (let i = 0; i < 40; i++) volume.writeBlocks(2 + rng.int(2990), rng.bytes(512 * (1 + rng.int(8))));
      volume.close();
      runSnaptapeOk(['backup', source, '--to', join(dir.path, 'f.aws')]);
      const restored = join(dir.path, 'restored.fba');
      runSnaptapeOk(['restore', join(dir.path, 'f.aws'), '--to', restored, '--new-volume']);
      const socket = join(dir.path, 'f.sock');
      serve = await startServe(['--tape', join(dir.path, 'f.aws'), '--nbd', `unix:${socket}`, '--control', join(dir.path, 'ctl.sock')]);
      const copy = join(dir.path, 'copy.raw');
      const result = await runToolAsync('nbdcopy', ['--allocated', `nbd+unix:///f?socket=${socket}`, copy]);
      expect(result.status, result.stderr).toBe(0);
      expect(readFileSync(copy).equals(readFileSync(restored))).toBe(true);
    } finally {
      await serve?.stop();
      dir.cleanup();
    }
  }, 120_000);
});
