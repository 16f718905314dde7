/**
 * A client pulls an incremental itself through `snaptape:dirty:<checkpoint>` (issue 23): on a
 * tracked volume served by `snaptape serve`, a real client's writes show in `nbdinfo --map` of the
 * backup's checkpoint, track for track; the tracks it names are exactly those snaptape's own
 * incremental since that backup copies, and their bytes as read through the export are the
 * incremental tape's blocks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TapeReader } from '../../src/tape/tape-reader.js';
import { readTapeChain, readTrackingState } from '../../src/techniques/tracking/index.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from './helpers/serve-process.js';

const SLOT_BYTES = 56_832;
const WRITTEN_TRACKS = [7, 8, 23, 41];

describe('snaptape:dirty over NBD', () => {
  let dir: TempDir;
  let serve: ServeProcess | undefined;
  let source: string;
  let checkpoint: string;
  let url: string;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-dirty-map-');
    source = makeFilledVolume(dir.path, 'src.ckd', { cylinders: 4, volser: 'DIRTY1', seed: 11 });
    runSnaptapeOk(['track', source]);
    runSnaptapeOk(['backup', source, '--to', join(dir.path, 'full.aws')]);
    checkpoint = readTrackingState(source).checkpoints.at(-1)?.name ?? '';
    const socket = join(dir.path, 'nbd.sock');
    serve = await startServe([source, '--nbd', `unix:${socket}`, '--control', join(dir.path, 'ctl.sock')]);
    url = `nbd+unix:///src?socket=${socket}`;
  }, 120_000);

  afterAll(async () => {
    await serve?.stop();
    killAllServers();
    dir.cleanup();
  });

  it('nbdinfo --map of the checkpoint names the written tracks; the incremental copies exactly those, with the same bytes', async () => {
    expect(checkpoint).not.toBe('');
    const clean = await runToolAsync('nbdinfo', [`--map=snaptape:dirty:${checkpoint}`, url]);
    expect(clean.status, clean.stderr).toBe(0);
    expect(dirtyTracks(clean.stdout)).toEqual([]);

    for (const t of WRITTEN_TRACKS) {
      const w = await runToolAsync('qemu-io', ['-f', 'raw', '-c', `write -P 0x${(t + 16).toString(16)} ${t * SLOT_BYTES + 100} 300`, url]);
      expect(w.status, w.stderr).toBe(0);
    }
    const map = await runToolAsync('nbdinfo', [`--map=snaptape:dirty:${checkpoint}`, url]);
    expect(map.status, map.stderr).toBe(0);
    const pulled = dirtyTracks(map.stdout);
    expect(pulled).toEqual(WRITTEN_TRACKS);
    // The client's pull: the dirty tracks' bytes, read through the export.
    const copy = join(dir.path, 'export.raw');
    const got = await runToolAsync('nbdcopy', [url, copy]);
    expect(got.status, got.stderr).toBe(0);
    const exported = readFileSync(copy);
    await serve?.stop();
    serve = undefined;

    runSnaptapeOk(['backup', source, '--to', join(dir.path, 'inc.aws'), '--since', join(dir.path, 'full.aws')]);
    const chain = readTapeChain(join(dir.path, 'inc.aws'));
    const units = chain.runs.flatMap((r) => Array.from({ length: r.unitCount }, (_, i) => r.firstUnit + i));
    expect(units).toEqual(pulled);
    const reader = TapeReader.open(join(dir.path, 'inc.aws'));
    try {
      for (const run of chain.runs) {
        for (let i = 0; i < run.unitCount; i++) {
          const block = reader.readBlockData(run.firstBlockNumber + i);
          const t = run.firstUnit + i;
          expect(block.equals(exported.subarray(t * SLOT_BYTES, t * SLOT_BYTES + block.length)), `track ${t}`).toBe(true);
        }
      }
    } finally {
      reader.close();
    }
  }, 180_000);
});

/** Tracks whose extents `nbdinfo --map` lists with the DIRTY flag (bit 0). */
function dirtyTracks(output: string): number[] {
  const tracks = new Set<number>();
  for (const line of output.split('\n')) {
    const [offset, length, flags] = line.trim().split(/\s+/).map(Number);
    if (offset === undefined || length === undefined || flags === undefined || Number.isNaN(flags) || (flags & 1) === 0) continue;
    for (let t = offset / SLOT_BYTES; t < (offset + length) / SLOT_BYTES; t++) tracks.add(t);
  }
  return [...tracks].sort((a, b) => a - b);
}

describe('snaptape:dirty of a checkpoint whose name holds a colon', () => {
  let dir: TempDir;
  let serve: ServeProcess | undefined;

  afterAll(async () => {
    await serve?.stop();
    killAllServers();
    dir?.cleanup();
  });

  it('a backup to daily:1.aws sets checkpoint daily:1.aws: its context is offered, and base:allocation still answers', async () => {
    dir = makeTempDir('snaptape-dirty-colon-');
    const source = makeFilledVolume(dir.path, 'src.ckd', { cylinders: 2, volser: 'DIRTY2', seed: 12 });
    runSnaptapeOk(['track', source]);
    runSnaptapeOk(['backup', source, '--to', join(dir.path, 'daily:1.aws')]);
    const checkpoint = readTrackingState(source).checkpoints.at(-1)?.name ?? '';
    expect(checkpoint).toBe('daily:1.aws');
    const socket = join(dir.path, 'nbd.sock');
    serve = await startServe([source, '--nbd', `unix:${socket}`, '--control', join(dir.path, 'ctl.sock')]);
    const url = `nbd+unix:///src?socket=${socket}`;
    const allocation = await runToolAsync('nbdinfo', ['--map', url]);
    expect(allocation.status, allocation.stderr).toBe(0);
    const w = await runToolAsync('qemu-io', ['-f', 'raw', '-c', `write -P 0x5a ${3 * SLOT_BYTES + 10} 20`, url]);
    expect(w.status, w.stderr).toBe(0);
    const map = await runToolAsync('nbdinfo', [`--map=snaptape:dirty:${checkpoint}`, url]);
    expect(map.status, map.stderr).toBe(0);
    expect(dirtyTracks(map.stdout)).toEqual([3]);
  }, 120_000);
});
