/**
 * Layer: unit and CLI scenarios of the durable clone (issue 10, items 4 and 5).
 * - The bitmap file holds a bit before the host write that needs it: an observer interceptor (it
 *   runs after the clone's stage) reads the file and finds the bit there; a second write to the
 *   same track makes no pwrite (the steady state costs nothing).
 * - `snaptape serve` SIGKILLed during an ACTIVE COPY: started again on the same images, it takes
 *   the clone up by itself (before NBD opens), the copy finishes, TERMINATE works, and the
 *   destination equals the source.
 * - The same kill, then `snaptape clone resume <target>`: the one-shot resume finishes it.
 */
import { copyFileSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { FILE_COLUMN, cloneBitmapPath, decodeCloneBitmap } from '../../src/techniques/clone/clone-record.js';
import type { CloneBitmapFile } from '../../src/techniques/clone/clone-bitmap-file.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { sha256File } from '../harness/dasd.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume as makeServedVolume, startServe } from '../server/helpers/serve-process.js';
import { makeFilledVolume, makeTarget, sleepMs } from './clone-fixtures.js';

let dir: TempDir;
let pool: CopyPool;

beforeAll(() => {
  dir = makeTempDir('snaptape-clone-resume-');
  pool = new CopyPool(1);
});
afterEach(() => killAllServers());
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

interface StatusJson {
  readonly id: string;
  readonly phase: string;
  readonly tracksLeft: number;
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  // Bounded: 400 × 50 ms.
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await sleepMs(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function fileBit(targetPath: string, column: number, unit: number): boolean {
  const path = cloneBitmapPath(targetPath);
  return decodeCloneBitmap(readFileSync(path), path).test(column, unit);
}

describe('durable clone bitmap', () => {
  it('holds the bit before the host write that needs it, and a second write costs no pwrite', async () => {
    const source = makeFilledVolume(dir.path, { cylinders: 2, seed: 31, name: 'unit-src.ckd' });
    const target = makeTarget(dir.path, 'unit-dst.ckd', { cylinders: 2 });
    const seen: string[] = [];
    try {
      const session = CloneSession.create(source, target, { pool, precopy: true, checkpointMs: 0 });
      await waitFor(() => session.status().tracksLeft === 0, 'the precopy');
      // A write makes a pass run, and the pass's checkpoint clears the file's bits.
      source.writeTrackRecords(3, [{ key: Buffer.alloc(0), data: Buffer.from('first') }]);
      await waitFor(() => session.status().tracksLeft === 0 && !fileBit(target.path, FILE_COLUMN.clonePb, 7), 'a checkpoint');
      const observer = {
        name: 'test observer',
        stage: 'observer' as const,
        beforeWrite: (e: { firstUnit: number }) => {
          seen.push(`${e.firstUnit}:${fileBit(target.path, FILE_COLUMN.clonePb, e.firstUnit)}:${fileBit(target.path, FILE_COLUMN.ind, e.firstUnit)}`);
        },
      };
      source.addInterceptor(observer);
      const file = (session as unknown as { bitmapFile: CloneBitmapFile }).bitmapFile;
      const before = file.markWrites;
      source.writeTrackRecords(7, [{ key: Buffer.alloc(0), data: Buffer.from('precopy write') }]);
      const afterFirst = file.markWrites;
      source.writeTrackRecords(7, [{ key: Buffer.alloc(0), data: Buffer.from('again') }]);
      // CLONE PB and IND set, PRECOPY PB cleared: three words.
      expect(afterFirst - before).toBe(3);
      expect(file.markWrites).toBe(afterFirst);
      session.activate();
      await waitFor(() => session.phase === 'copied', 'the copy');
      // After ACTIVATE a write to a copied track whose bit the file holds clears it first.
      source.writeTrackRecords(9, [{ key: Buffer.alloc(0), data: Buffer.from('active write') }]);
      expect(fileBit(target.path, FILE_COLUMN.clonePb, 9)).toBe(false);
      source.removeInterceptor(observer);
      session.terminate();
      expect(seen.slice(0, 2)).toEqual(['7:true:true', '7:true:true']);
    } finally {
      source.close();
      target.close();
    }
  });
});

describe('a clone outlives a SIGKILLed server', () => {
  async function killedDuringActiveCopy(name: string): Promise<{ source: string; target: string; socket: string }> {
    const source = makeServedVolume(dir.path, `${name}s.ckd`, { cylinders: 20, seed: 32 });
    makeTarget(dir.path, `${name}d.ckd`, { cylinders: 20 }).close();
    const target = join(dir.path, `${name}d.ckd`);
    const socket = join(dir.path, `${name}.sock`);
    const server = await startServe([source, target, '--control', socket]);
    const created = runSnaptapeJson<StatusJson>(['clone', 'create', `${name}s`, `${name}d`, '--activate', '--throttle-mbps', '4', '--server', socket]);
    expect(created.phase).toBe('active');
    await sleepMs(300);
    await server.stop('SIGKILL');
    const stored = runSnaptapeJson<{ complete: boolean; phase: string; tracksLeft: number; unfinished: boolean }>(['clone', 'status', '--target', target]);
    expect(stored).toMatchObject({ complete: false, phase: 'active', unfinished: true });
    return { source, target, socket };
  }

  it('snaptape serve takes the clone up at start; it finishes and terminates; the destination equals the source', async () => {
    const { source, target, socket } = await killedDuringActiveCopy('r1');
    const server = await startServe([source, target, '--control', socket]);
    expect(server.info.warnings).toEqual([]);
    const listed = runSnaptapeJson<{ clones: StatusJson[] }>(['clone', 'list', '--server', socket]).clones;
    expect(listed).toHaveLength(1);
    const id = (listed[0] as StatusJson).id;
    await waitFor(() => runSnaptapeJson<StatusJson>(['clone', 'status', id, '--server', socket]).phase === 'copied', 'the resumed copy');
    expect(runSnaptapeJson<StatusJson>(['clone', 'terminate', id, '--server', socket]).phase).toBe('terminated');
    expect((await server.stop()).code).toBe(0);
    expect(runSnaptapeJson<{ complete: boolean }>(['clone', 'status', '--target', target]).complete).toBe(true);
    expect(compareImages(source, target).mismatched).toBe(0);
  }, 60_000);

  it('clone resume of a copy of the destination, its record beside it, is refused: the record names another image', async () => {
    const { target } = await killedDuringActiveCopy('r3');
    const copy = join(dir.path, 'r3copy.ckd');
    for (const suffix of ['', '.clone.json', '.clone.bitmap']) copyFileSync(`${target}${suffix}`, `${copy}${suffix}`);
    const before = sha256File(target);
    const r = runSnaptape(['clone', 'resume', copy]);
    expect(r.status, r.stderr).toBe(EXIT_STATUS_BY_CODE.SESSION);
    expect(r.stderr).toContain(`its record names the destination ${target}, not ${copy}`);
    expect(sha256File(target), 'the image the record names is not written').toBe(before);
  }, 60_000);

  it('clone resume through a symbolic link to its folder: the same image and side files, resumed by the name given', async () => {
    // The record beside via/r5d.ckd is the one beside r5d.ckd: the same folder, reached by another name.
    const { source, target } = await killedDuringActiveCopy('r5');
    const via = join(dir.path, 'via');
    symlinkSync(dir.path, via);
    const result = runSnaptapeJson<{ final: StatusJson }>(['clone', 'resume', join(via, 'r5d.ckd')]);
    expect(result.final.phase).toBe('terminated');
    expect(compareImages(source, target).mismatched).toBe(0);
  }, 60_000);

  it('clone resume of a symbolic link to the destination, its record linked too: refused, the image not written', async () => {
    // Another name for the file, whose side files (its lock, its bitmap) are other files.
    const { target } = await killedDuringActiveCopy('r6');
    const link = join(dir.path, 'r6link.ckd');
    symlinkSync(target, link);
    symlinkSync(`${target}.clone.json`, `${link}.clone.json`);
    const before = sha256File(target);
    const r = runSnaptape(['clone', 'resume', link]);
    expect(r.status, r.stderr).toBe(EXIT_STATUS_BY_CODE.SESSION);
    expect(r.stderr).toContain(`its record names the destination ${target}, not ${link}`);
    expect(sha256File(target)).toBe(before);
  }, 60_000);

  it('snaptape clone resume <target> finishes it in one process', async () => {
    const { source, target } = await killedDuringActiveCopy('r2');
    const result = runSnaptapeJson<{ final: StatusJson }>(['clone', 'resume', target]);
    expect(result.final.phase).toBe('terminated');
    expect(compareImages(source, target).mismatched).toBe(0);
  }, 60_000);
});
