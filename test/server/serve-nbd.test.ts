/**
 * `snaptape serve` as a child process, reached by the real NBD tools (qemu-img, nbdinfo, nbdcopy,
 * qemu-io). The export of a CKD volume is its flat view: the image's track slots after the header,
 * track t at t × slot size; an FBA volume exports its blocks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume, openVolume } from '../../src/api/volume-api.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { killAllServers, makeFilledVolume, nbdPort, startServe, type ServeProcess } from './helpers/serve-process.js';

/** The image's flat view, read from the file itself: the slots after the header. */
function flatViewOfImage(path: string): Buffer {
  const volume = openVolume(path, { readOnly: true });
  try {
    const location = volume.backend.location();
    // These test images are plain CKD/FBA files: their units sit at fixed offsets.
    if (location.kind !== 'file') throw new Error(`${path} is not a plain image file (${location.kind})`);
    return readFileSync(path).subarray(location.dataOffsetBytes, location.dataOffsetBytes + volume.flatSizeBytes);
  } finally {
    volume.close();
  }
}

describe('snaptape serve: NBD exports for real clients', () => {
  let dir: TempDir;
  let server: ServeProcess;
  let ckdPath: string;
  let fbaPath: string;
  let base: string;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-serve-nbd-');
    ckdPath = makeFilledVolume(dir.path, 'src001.ckd');
    fbaPath = join(dir.path, 'fba1.fba');
    createVolume(fbaPath, { type: 'fba', blocks: 4096, volser: 'FBA001' }).close();
    server = await startServe([ckdPath, fbaPath, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir.path, 'ctl.sock')]);
    base = `nbd://127.0.0.1:${nbdPort(server.info)}`;
  });

  afterAll(async () => {
    killAllServers();
    dir.cleanup();
  });

  it('prints the NBD address and one export per image, named after the file', () => {
    expect(server.info.nbd).toMatchObject({ kind: 'tcp', host: '127.0.0.1', tls: false });
    expect(server.info.nbd.exports.map((e) => e.name)).toEqual(['src001', 'fba1']);
    expect(server.info.control).toEqual({ kind: 'unix', path: join(dir.path, 'ctl.sock') });
    expect(readFileSync(`${ckdPath}.lock`, 'utf8').split('\n')[0]).toBe(String(server.child.pid));
  });

  it('qemu-img info sees a raw export of the flat size', async () => {
    const result = await runToolAsync('qemu-img', ['info', '--output=json', `${base}/src001`]);
    expect(result.status, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout) as { 'virtual-size': number; format: string };
    expect(info.format).toBe('raw');
    expect(info['virtual-size']).toBe(300 * 56832);
  });

  it('nbdinfo lists both exports with their sizes', async () => {
    const result = await runToolAsync('nbdinfo', ['--list', '--json', base]);
    expect(result.status, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout) as { exports: Array<{ 'export-name': string; 'export-size': number; is_read_only: boolean }> };
    const byName = Object.fromEntries(info.exports.map((e) => [e['export-name'], e]));
    expect(byName['src001']?.['export-size']).toBe(300 * 56832);
    expect(byName['fba1']?.['export-size']).toBe(4096 * 512);
    expect(byName['src001']?.is_read_only).toBe(false);
  });

  it('nbdcopy of each export equals the flat view read from the image file', async () => {
    for (const [name, path] of [
      ['src001', ckdPath],
      ['fba1', fbaPath],
    ] as const) {
      const out = join(dir.path, `${name}.raw`);
      const result = await runToolAsync('nbdcopy', [`${base}/${name}`, out]);
      expect(result.status, result.stderr).toBe(0);
      expect(readFileSync(out).equals(flatViewOfImage(path)), name).toBe(true);
    }
  });

  it('a qemu-io write lands in the image at track × slot size + offset', async () => {
    const slotBytes = 56832;
    // Inside the zero tail past the used bytes of track 299: the track still decodes.
    const offset = 299 * slotBytes + 40_960;
    const result = await runToolAsync('qemu-io', ['-f', 'raw', `${base}/src001`, '-c', `write -P 0x5a ${offset} 4096`, '-c', `read -P 0x5a ${offset} 4096`]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/Pattern verification failed/);
    const flat = flatViewOfImage(ckdPath);
    expect(flat.subarray(offset, offset + 4096).every((b) => b === 0x5a)).toBe(true);
  });

  it('a --read-only server refuses NBD writes and holds no lock', async () => {
    const readOnlyPath = makeFilledVolume(dir.path, 'ro.ckd', { volser: 'RO0001' });
    const ro = await startServe([readOnlyPath, '--read-only', '--nbd', '127.0.0.1:0', '--control', join(dir.path, 'ro.sock')]);
    try {
      const result = await runToolAsync('qemu-io', ['-f', 'raw', `nbd://127.0.0.1:${nbdPort(ro.info)}/ro`, '-c', 'write -P 0x11 0 512']);
      expect(`${result.stdout}${result.stderr}`).toMatch(/read-only|Permission|not permitted|denied/i);
      expect(ro.info.nbd.exports[0]?.readOnly).toBe(true);
      expect(existsSync(`${readOnlyPath}.lock`)).toBe(false);
    } finally {
      expect((await ro.stop()).code).toBe(0);
    }
  });
});
