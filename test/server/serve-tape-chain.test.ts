/**
 * `snaptape serve --tape full.aws inc1.aws inc2.aws`: the volume a chain of backup tapes holds (a
 * full backup, then its incrementals in order), exported read-only with no restore. Each track is
 * read from the last tape of the chain that holds it, so a real client's copy (nbdcopy) equals the
 * restore of the same chain byte for byte; with the device header in front it is a volume `ls` and
 * `get` read; writes are refused; a chain that does not follow (out of order, another base, an
 * incremental alone) is refused with one line, as `restore` and `verify --chain` refuse it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdErrno } from '../../src/export/nbd-constants.js';
import { openVolume } from '../../src/api/volume-api.js';
import { createVolume } from '../../src/volume/open-volume.js';
import { readTapeChain } from '../../src/techniques/tracking/index.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { runInProcessOk } from '../harness/run-cli-in-process.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { SeededRandom } from '../export/helpers/seeded-random.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from './helpers/serve-process.js';

/** The Hercules CKD device header before track 0 (the export starts at track 0). */
const CKD_HEADER_BYTES = 512;

/** The volume units an incremental tape holds. */
function unitsOn(tape: string): Set<number> {
  const units = new Set<number>();
  for (const run of readTapeChain(tape).runs) for (let u = run.firstUnit; u < run.firstUnit + run.unitCount; u++) units.add(u);
  return units;
}

describe('serve --tape of a chain', () => {
  let dir: TempDir;
  let serve: ServeProcess;
  let url: string;
  let source: string;
  const at = (name: string): string => join(dir.path, name);

  beforeAll(async () => {
    dir = makeTempDir('snaptape-serve-chain-');
    source = makeFilledVolume(dir.path, 'src.ckd', { cylinders: 4, volser: 'CHAIN1', seed: 7 });
    await runInProcessOk(['track', source]);
    await runInProcessOk(['backup', source, '--to', at('full.aws')]);
    await runInProcessOk(['alloc', source, 'NEW.DATA', '--tracks', '3']);
    const rng = new SeededRandom(3);
    writeFileSync(at('a.dat'), rng.bytes(40_000));
    writeFileSync(at('b.dat'), rng.bytes(30_000));
    await runInProcessOk(['put', source, 'NEW.DATA', at('a.dat')]);
    await runInProcessOk(['backup', source, '--to', at('inc1.aws'), '--incremental']);
    // inc2 rewrites NEW.DATA (tracks inc1 holds too) and adds MORE.DATA (tracks only inc2 holds).
    await runInProcessOk(['put', source, 'NEW.DATA', at('b.dat')]);
    await runInProcessOk(['alloc', source, 'MORE.DATA', '--tracks', '2']);
    await runInProcessOk(['put', source, 'MORE.DATA', at('a.dat')]);
    await runInProcessOk(['backup', source, '--to', at('inc2.aws'), '--incremental']);
    await runInProcessOk(['restore', at('full.aws'), at('inc1.aws'), at('inc2.aws'), '--to', at('restored.ckd'), '--new-volume']);
    await runInProcessOk(['restore', at('full.aws'), at('inc1.aws'), '--to', at('restored1.ckd'), '--new-volume']);
    const socket = at('chain.nbd.sock');
    serve = await startServe(['--tape', at('full.aws'), at('inc1.aws'), at('inc2.aws'), '--nbd', `unix:${socket}`, '--control', at('ctl.sock')]);
    url = `nbd+unix:///inc2?socket=${socket}`;
  }, 180_000);

  afterAll(async () => {
    await serve?.stop();
    killAllServers();
    dir.cleanup();
  });

  it('the chain is one where the order matters: the incrementals share tracks and hold others apart', () => {
    const inc1 = unitsOn(at('inc1.aws'));
    const inc2 = unitsOn(at('inc2.aws'));
    expect([...inc1].some((t) => inc2.has(t))).toBe(true);
    expect([...inc2].some((t) => !inc1.has(t))).toBe(true);
    expect(readFileSync(at('restored1.ckd')).equals(readFileSync(at('restored.ckd')))).toBe(false);
  });

  it('exports the chain read-only under the last tape name', () => {
    expect(serve.info.nbd.exports).toEqual([
      { name: 'inc2', path: at('inc2.aws'), sizeBytes: readFileSync(at('restored.ckd')).length - CKD_HEADER_BYTES, readOnly: true },
    ]);
  });

  it('nbdcopy of the export equals the restored chain byte for byte', async () => {
    const copy = at('copy.raw');
    const result = await runToolAsync('nbdcopy', ['--allocated', url, copy]);
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(copy).equals(readFileSync(at('restored.ckd')).subarray(CKD_HEADER_BYTES))).toBe(true);
  });

  it('a client copy with the device header is the volume at the last instant for ls and get', async () => {
    const copy = at('copy2.raw');
    const result = await runToolAsync('nbdcopy', [url, copy]);
    expect(result.status, result.stderr).toBe(0);
    const image = at('fromchain.ckd');
    writeFileSync(image, Buffer.concat([readFileSync(at('restored.ckd')).subarray(0, CKD_HEADER_BYTES), readFileSync(copy)]));
    const listed = JSON.parse(await runInProcessOk(['ls', image, '--json'])) as { volser: string; datasets: { name: string }[] };
    expect(listed.volser).toBe('CHAIN1');
    expect(listed.datasets.map((d) => d.name)).toContain('NEW.DATA');
    await runInProcessOk(['get', image, 'NEW.DATA', at('fromchain.dat')]);
    await runInProcessOk(['get', source, 'NEW.DATA', at('fromsource.dat')]);
    expect(readFileSync(at('fromchain.dat')).equals(readFileSync(at('fromsource.dat')))).toBe(true);
  });

  it('refuses writes with EPERM', async () => {
    const client = await NbdClient.connect({ socketPath: at('chain.nbd.sock'), exportName: 'inc2' });
    try {
      await expect(client.write(0, Buffer.alloc(512, 1))).rejects.toMatchObject({ details: { errno: NbdErrno.EPERM } });
    } finally {
      await client.disconnect();
    }
    const tool = await runToolAsync('qemu-io', ['-f', 'raw', url, '-c', 'write 0 512']);
    expect(`${tool.stdout}${tool.stderr}`).toMatch(/read-only|Permission denied|not permitted/i);
  });

  it('refuses a chain out of order, one with another base and an incremental alone, with one line each', () => {
    const refused = (tapes: string[], reason: RegExp): void => {
      const result = runSnaptape(['serve', '--tape', ...tapes.map(at), '--nbd', `unix:${at('x.sock')}`, '--control', at('x.ctl')]);
      expect(result.status, tapes.join(' ')).not.toBe(0);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(reason);
    };
    refused(['full.aws', 'inc2.aws'], /inc2\.aws does not follow: its base is checkpoint inc1\.aws/);
    refused(['inc1.aws', 'full.aws'], /a chain starts with a full backup/);
    refused(['inc1.aws'], /incremental.*serve its chain, the full backup first/);
  });
});

describe('serve --tape of an FBA chain', () => {
  it('nbdcopy of the export equals the restored chain', async () => {
    const dir = makeTempDir('snaptape-serve-chain-fba-');
    const at = (name: string): string => join(dir.path, name);
    let serve: ServeProcess | undefined;
    try {
      const source = at('src.fba');
      createVolume(source, { type: 'fba', blocks: 3000, volser: 'FBA001' }).close();
      await runInProcessOk(['track', source]);
      const rng = new SeededRandom(41);
      const writeSome = (count: number): void => {
        const volume = openVolume(source);
        try {
          for (let i = 0; i < count; i++) volume.writeBlocks(2 + rng.int(2990), rng.bytes(512 * (1 + rng.int(8))));
        } finally {
          volume.close();
        }
      };
      writeSome(40);
      await runInProcessOk(['backup', source, '--to', at('f.aws')]);
      writeSome(6);
      await runInProcessOk(['backup', source, '--to', at('i1.aws'), '--incremental']);
      writeSome(6);
      await runInProcessOk(['backup', source, '--to', at('i2.aws'), '--incremental']);
      await runInProcessOk(['restore', at('f.aws'), at('i1.aws'), at('i2.aws'), '--to', at('restored.fba'), '--new-volume']);
      expect(readFileSync(at('restored.fba')).equals(readFileSync(source))).toBe(true);
      const socket = at('f.sock');
      serve = await startServe(['--tape', at('f.aws'), at('i1.aws'), at('i2.aws'), '--nbd', `unix:${socket}`, '--control', at('ctl.sock')]);
      const copy = at('copy.raw');
      const result = await runToolAsync('nbdcopy', ['--allocated', `nbd+unix:///i2?socket=${socket}`, copy]);
      expect(result.status, result.stderr).toBe(0);
      expect(readFileSync(copy).equals(readFileSync(at('restored.fba')))).toBe(true);
    } finally {
      await serve?.stop();
      dir.cleanup();
    }
  }, 180_000);
});
