/**
 * Point in time with a real client. While qemu-io writes random patterns to a served CKD volume
 * over NBD, a backup is started through the control API. The server (started with --test-hooks)
 * copies the image file synchronously right before the session registers, in the same request
 * handler, so that copy is the volume at the start instant. The tape, restored into a new volume,
 * must equal that reference byte for byte.
 *
 * Most writes land inside record data areas (aligned to 512 bytes in the flat view); a quarter land
 * anywhere in the slots past cylinder 0, over home addresses, count fields and the zero tail after
 * the end-of-track marker, so some tracks stop decoding and some carry bytes past their end
 * marker: the backup copies and the restore writes those slots raw. The backup is
 * throttled so it runs for a second or two and NBD writes hit tracks not yet copied, which the
 * copy-before-write interceptor saves first (copiedOutOfOrder > 0 shows it happened).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { openVolume } from '../../src/api/volume-api.js';
import { COUNT_FIELD_LAYOUT, HOME_ADDRESS_LAYOUT } from '../../src/ckd/track-layout.js';
import { decodeTrack } from '../../src/ckd/track-codec.js';
import { cchhOf } from '../../src/geometry/cchh.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { readSessionRecord } from '../../src/techniques/tape-backup/session-record.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { SeededRandom } from '../export/helpers/seeded-random.js';
import { killAllServers, makeFilledVolume, nbdPort, startServe, type ServeProcess } from './helpers/serve-process.js';

const SECTOR = 512;
/** Writes per qemu-io process, and processes at most: the loop is bounded whatever happens. */
const WRITES_PER_BATCH = 200;
const MAX_BATCHES = 40;

interface Area {
  readonly offset: number;
  readonly length: number;
}

/** 512-aligned runs inside the data of every record on tracks past cylinder 0 (VOL1 and VTOC). */
function recordDataAreas(imagePath: string): Area[] {
  const volume = openVolume(imagePath, { readOnly: true });
  try {
    const geometry = volume.ckd;
    const slot = volume.backend.slotBytes;
    const areas: Area[] = [];
    for (let t = geometry.heads; t < geometry.trackCount; t++) {
      const track = decodeTrack(volume.backend.readUnit(t, slot), cchhOf(geometry, t), { path: imagePath, trackIndex: t });
      let at = HOME_ADDRESS_LAYOUT.size + COUNT_FIELD_LAYOUT.size + track.r0Data.length;
      for (const record of track.records) {
        const dataStart = t * slot + at + COUNT_FIELD_LAYOUT.size + record.key.length;
        const dataEnd = dataStart + record.data.length;
        const first = Math.ceil(dataStart / SECTOR) * SECTOR;
        const last = Math.floor(dataEnd / SECTOR) * SECTOR;
        if (last - first >= SECTOR) areas.push({ offset: first, length: last - first });
        at += COUNT_FIELD_LAYOUT.size + record.key.length + record.data.length;
      }
    }
    return areas;
  } finally {
    volume.close();
  }
}

/** Every sector of the flat view past cylinder 0. */
function slotsPastCylinderZero(imagePath: string): Area {
  const volume = openVolume(imagePath, { readOnly: true });
  try {
    const slot = volume.backend.slotBytes;
    const first = volume.ckd.heads * slot;
    return { offset: first, length: Math.floor((volume.ckd.trackCount * slot - first) / SECTOR) * SECTOR };
  } finally {
    volume.close();
  }
}

function writeCommands(random: SeededRandom, areas: readonly Area[], count: number, anywhere: Area): string[] {
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const area = random.int(4) === 0 ? anywhere : (areas[random.int(areas.length)] as Area);
    const sectors = area.length / SECTOR;
    const firstSector = random.int(sectors);
    const length = (1 + random.int(Math.min(16, sectors - firstSector))) * SECTOR;
    args.push('-c', `write -P 0x${(1 + random.int(255)).toString(16)} ${area.offset + firstSector * SECTOR} ${length}`);
  }
  return args;
}

describe('snaptape serve: a backup through the control API while qemu-io writes', () => {
  let dir: TempDir;
  let server: ServeProcess;

  beforeAll(() => {
    dir = makeTempDir('snaptape-serve-pit-');
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('restores to the volume as it was at the start instant, byte for byte', async () => {
    const seed = Number(process.env['SNAPTAPE_SEED'] ?? Date.now() % 1_000_000);
    console.log(`point-in-time seed ${seed} (replay with SNAPTAPE_SEED=${seed})`);
    const random = new SeededRandom(seed);
    const image = makeFilledVolume(dir.path, 'src001.ckd');
    const areas = recordDataAreas(image);
    expect(areas.length).toBeGreaterThan(100);
    const anywhere = slotsPastCylinderZero(image);
    const socket = join(dir.path, 'ctl.sock');
    server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket, '--test-hooks']);
    const url = `nbd://127.0.0.1:${nbdPort(server.info)}/src001`;
    const client = new ControlClient({ kind: 'unix', socketPath: socket });

    let stop = false;
    let batchesDone = 0;
    const batchSpans: Array<{ startMs: number; endMs: number }> = [];
    const writer = (async () => {
      for (let batch = 0; batch < MAX_BATCHES && !stop; batch++) {
        const startMs = Date.now();
        const result = await runToolAsync('qemu-io', ['-f', 'raw', url, ...writeCommands(random, areas, WRITES_PER_BATCH, anywhere)]);
        if (result.status !== 0) throw new Error(`qemu-io failed (${result.status}): ${result.stderr}`);
        batchesDone += 1;
        batchSpans.push({ startMs, endMs: Date.now() });
      }
    })();

    // Let the writer get going, then start the backup in the middle of its traffic.
    for (let i = 0; i < 200 && batchesDone < 1; i++) await new Promise((r) => setTimeout(r, 25));
    expect(batchesDone).toBeGreaterThanOrEqual(1);
    const tape = join(dir.path, 'src001.aws');
    const reference = join(dir.path, 'reference.ckd');
    const backupStartMs = Date.now();
    const started = await client.startSession({ type: 'backup', volume: 'src001', tape, workers: 1, throttleMbps: 6, referenceCopy: reference });
    expect(started.id).toBe('backup-1');
    const final = await client.waitForSession(started.id);
    const backupEndMs = Date.now();
    stop = true;
    await writer;

    expect(final.state, JSON.stringify(final.error)).toBe('completed');
    const summary = final.summary as { copiedOutOfOrder: number; copiedInOrder: number };
    // qemu-io was writing while the backup ran (and therefore also around its start instant).
    const overlapping = batchSpans.filter((b) => b.startMs < backupEndMs && b.endMs > backupStartMs).length;
    console.log(
      `backup ${backupEndMs - backupStartMs} ms, ${batchSpans.length} qemu-io batches, ${overlapping} overlapping it; copied out of order ${summary.copiedOutOfOrder}, in order ${summary.copiedInOrder}`,
    );
    expect(overlapping).toBeGreaterThanOrEqual(1);
    expect(summary.copiedOutOfOrder).toBeGreaterThan(0);
    expect(readSessionRecord(tape)?.status).toBe('completed');

    const restored = join(dir.path, 'restored.ckd');
    restoreTape(tape, { to: restored, newVolume: true });
    const referenceBytes = readFileSync(reference);
    expect(readFileSync(restored).equals(referenceBytes)).toBe(true);

    // The writes after the start instant did reach the volume; only the tape is frozen in time.
    expect((await server.stop()).code).toBe(0);
    expect(readFileSync(image).equals(referenceBytes)).toBe(false);
  });
});
