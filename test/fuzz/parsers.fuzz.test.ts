/**
 * Fuzz layer (issue 10, item 6): every parser of outside input, fed mutated valid inputs. Each case
 * must give a correct parse or a typed error, no crash, no hang, and leave its input unchanged.
 * The NBD frame parser has its own fuzz (test/export/nbd-fuzz.test.ts). Cases per parser:
 * FUZZ_CASES (10,000 by default; `npm run fuzz` runs 100,000); SNAPTAPE_SEED replays a run.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve as resolvePath } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume, describeVolume } from '../../src/api/volume-api.js';
import { decodeTrack } from '../../src/ckd/track-codec.js';
import { openImage } from '../../src/image/open-image.js';
import { VolumeServer } from '../../src/server/volume-server.js';
import { SnaptapeError, UsageError, VtocError } from '../../src/errors/snaptape-error.js';
import { decodeStandardLabel, labelIdOf } from '../../src/tape/standard-labels.js';
import { readTapeContents } from '../../src/tape/tape-contents.js';
import { TapeReader } from '../../src/tape/tape-reader.js';
import { Volume } from '../../src/volume/volume.js';
import { allocateDataset, deleteDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { getDataset, putDataset } from '../../src/vtoc/dataset-io.js';
import { HET_BZIP2, HET_ZLIB, MIB, bzip2Bomb, hetTapeWithBlock, zlibBomb } from '../harness/bombs.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { buildGuardVolume, CRAFTED_VTOCS } from '../vtoc/crafted-vtoc.js';
import { VECTORS_DIR } from '../harness/vectors.js';
import { fuzzCases, fuzzSeed, runFuzz, type FuzzReport, type FuzzTarget } from './fuzz-harness.js';
import { recordReliability } from '../harness/crash-child.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Tape blocks read per fuzzed tape at most (the index itself covers every block). */
const MAX_BLOCKS_READ = 200;
/** Tracks of the fuzzed CKD image that mutations aim at: header, track 0, VTOC, first data track. */
const FOCUS_TRACKS = 3;
/** Bytes of the fuzzed CKD image mutations aim at: the 512-byte device header and FOCUS_TRACKS slots of 56,832. */
const CKD_FOCUS_BYTES = 512 + FOCUS_TRACKS * 56832;

let dir: TempDir;
const reports: FuzzReport[] = [];
const seed = fuzzSeed();
const cases = fuzzCases();

beforeAll(() => {
  dir = makeTempDir('snaptape-fuzz-');
  console.log(`parser fuzz: ${cases} cases per parser, seed ${seed} (replay with SNAPTAPE_SEED=${seed})`);
});
afterAll(() => {
  for (const r of reports) {
    console.log(
      `fuzz ${r.name}: ${r.cases} cases, ${r.parsed} parsed, ${r.typedErrors} typed errors, ${r.crashes.length} crashes, ${r.hangs} hangs, ${r.inputChanged} inputs changed, slowest ${r.slowestMs.toFixed(1)} ms`,
    );
    recordReliability({
      kind: 'fuzz',
      parser: r.name,
      cases: r.cases,
      crashes: r.crashes.length,
      hangs: r.hangs,
      inputChanged: r.inputChanged,
      slowestMs: Number(r.slowestMs.toFixed(1)),
    });
  }
  dir.cleanup();
});

function expectClean(report: FuzzReport): void {
  reports.push(report);
  expect(report.crashes, `${report.name}: crashes`).toEqual([]);
  expect(report.hangs, `${report.name}: hangs`).toBe(0);
  expect(report.inputChanged, `${report.name}: inputs changed`).toBe(0);
  // The mutations must exercise both outcomes, or the fuzz says little.
  expect(report.parsed).toBeGreaterThan(0);
  expect(report.typedErrors).toBeGreaterThan(0);
}

/** A one-cylinder 3390 with a VTOC, a text data set and a PDS: header + tracks 0-2 are the focus. */
let sample: Buffer | undefined;
function sampleImage(): Buffer {
  if (sample) return sample;
  const path = join(dir.path, 'sample.ckd');
  const volume = createVolume(path, { type: '3390', cylinders: 1, volser: 'FUZZ01' });
  allocateDataset(volume, { name: 'FUZZ.TEXT', tracks: 3, dsorg: 'PS', recfm: parseRecfm('FB'), recordLength: 80, blockSize: 800 });
  allocateDataset(volume, { name: 'FUZZ.PDS', tracks: 2, dsorg: 'PO', recfm: parseRecfm('FB'), recordLength: 80, blockSize: 3120, directoryBlocks: 3 });
  putDataset(volume, 'FUZZ.TEXT', Buffer.from('HELLO FUZZ\nSECOND LINE\n'), { text: true });
  volume.close();
  sample = readFileSync(path);
  return sample;
}

/**
 * Crafted VTOCs (crafted-vtoc.ts): a Format-3 chain that loops, an extent over another data set,
 * one over track 0 and the VTOC, one past the volume's end. Random bit flips seldom build these.
 */
let crafted: Map<string, Buffer> | undefined;
function craftedImages(): Map<string, Buffer> {
  if (crafted) return crafted;
  crafted = new Map();
  for (const [name, craft] of Object.entries(CRAFTED_VTOCS)) {
    const path = buildGuardVolume(dir.path, `crafted-${name}`);
    craft(path);
    crafted.set(name, readFileSync(path));
  }
  return crafted;
}

/**
 * Puts a few bytes into every data set of the image at `path`, opened read-write. A put refused
 * with a typed error must leave the file as it was; the first such error is rethrown (a typed
 * outcome), a refused put that wrote something returns false.
 */
function putIntoEach(path: string): boolean {
  let listing;
  const open = (): Volume => new Volume(openImage(path));
  let volume = open();
  try {
    listing = describeVolume(volume);
  } finally {
    volume.close();
  }
  let refusal: SnaptapeError | undefined;
  for (const d of listing.datasets) {
    const before = sha(readFileSync(path));
    volume = open();
    try {
      putDataset(volume, d.name, Buffer.from('FUZZ LINE\n'), { text: true });
    } catch (error) {
      if (!(error instanceof SnaptapeError)) throw error;
      refusal ??= error;
      volume.close();
      if (sha(readFileSync(path)) !== before) return false;
      continue;
    }
    volume.close();
  }
  if (refusal) throw refusal;
  return true;
}

describe('parser fuzz', () => {
  it('CKD images: device header, tracks, VOL1, VTOC DSCBs and data sets', async () => {
    const image = sampleImage();
    const path = join(dir.path, 'fuzzed.ckd');
    const target: FuzzTarget = {
      name: 'ckd-image',
      seeds: [image, ...craftedImages().values()],
      focusBytes: CKD_FOCUS_BYTES,
      parse: (input) => {
        writeFileSync(path, input);
        const before = sha(input);
        try {
          const volume = new Volume(openImage(path, { readOnly: true }));
          try {
            const listing = describeVolume(volume);
            if (volume.geometry.kind === 'ckd') {
              for (let t = 0; t < Math.min(FOCUS_TRACKS + 1, volume.unitCount); t++) volume.readTrack(t);
              for (const d of listing.datasets) getDataset(volume, d.name);
            }
          } finally {
            volume.close();
          }
        } finally {
          // Deliberate: a parser that wrote its input fails the property even when it also threw.
          // eslint-disable-next-line no-unsafe-finally
          if (sha(readFileSync(path)) !== before) return false;
        }
        return true;
      },
    };
    expectClean(await runFuzz(target, { cases, seed }));
  }, 600_000);

  it('crafted VTOCs: put and delete are refused with a typed error and write nothing', () => {
    for (const [name, image] of craftedImages()) {
      const path = join(dir.path, `refused-${name}.ckd`);
      writeFileSync(path, image);
      for (const act of [(v: Volume) => putDataset(v, 'A.DATA', Buffer.from('X\n'), { text: true }), (v: Volume) => deleteDataset(v, 'A.DATA')]) {
        const volume = new Volume(openImage(path));
        try {
          expect(() => act(volume), name).toThrow(VtocError);
        } finally {
          volume.close();
        }
        expect(sha(readFileSync(path)), `${name}: nothing written`).toBe(sha(image));
      }
    }
  });

  it('data set writes on mutated and crafted images: a refused put writes nothing', async () => {
    const path = join(dir.path, 'fuzzed-write.ckd');
    const target: FuzzTarget = {
      name: 'ckd-dataset-write',
      seeds: [sampleImage(), ...craftedImages().values()],
      focusBytes: CKD_FOCUS_BYTES,
      parse: (input) => {
        writeFileSync(path, input);
        return putIntoEach(path);
      },
    };
    // Each case opens the image read-write once per data set: a tenth of the parser cases.
    expectClean(await runFuzz(target, { cases: Math.max(200, Math.floor(cases / 10)), seed }));
  }, 600_000);

  it('CKD track images', async () => {
    const image = sampleImage();
    const tracks = [0, 1, 2].map((t) => image.subarray(512 + t * 56832, 512 + t * 56832 + 8192));
    const target: FuzzTarget = {
      name: 'ckd-track',
      seeds: tracks,
      parse: (input) => {
        const before = sha(input);
        try {
          decodeTrack(input, { cylinder: 0, head: 0 }, { path: 'fuzz', trackIndex: 0 });
        } finally {
          // Deliberate: a parser that wrote its input fails the property even when it also threw.
          // eslint-disable-next-line no-unsafe-finally
          if (sha(input) !== before) return false;
        }
        return true;
      },
    };
    expectClean(await runFuzz(target, { cases, seed }));
  }, 600_000);

  it('AWSTAPE and HET tapes: blocks, segments, compression, label sequences', async () => {
    const names = [
      '05_tape_sl_hetinit.aws',
      '06_tape_nl_hetinit.aws',
      '07_tape_sl_1file.aws',
      '08_tape_nl_bigblocks_chunk4096.aws',
      '09_tape_sl_1file.zlib.het',
      '09_tape_sl_1file.bz2.het',
    ];
    // Random mutations never build a decompression bomb, so two are seeds: blocks of 64 MiB of
    // zeros (1,000 times the largest legal block; small enough to make in a second).
    const bombs = [hetTapeWithBlock(bzip2Bomb(64 * MIB), HET_BZIP2), hetTapeWithBlock(zlibBomb(64 * MIB), HET_ZLIB)];
    const seeds = [...names.map((n) => readFileSync(join(VECTORS_DIR, n))), ...bombs];
    const path = join(dir.path, 'fuzzed.aws');
    const target: FuzzTarget = {
      name: 'awstape-het',
      seeds,
      focusBytes: 4096,
      parse: (input) => {
        writeFileSync(path, input);
        const before = sha(input);
        try {
          const reader = TapeReader.open(path);
          try {
            readTapeContents(reader);
            for (let b = 0; b < Math.min(reader.entryCount, MAX_BLOCKS_READ); b++) if (reader.entry(b).kind === 'block') reader.readBlockData(b);
          } finally {
            reader.close();
          }
        } finally {
          // Deliberate: a parser that wrote its input fails the property even when it also threw.
          // eslint-disable-next-line no-unsafe-finally
          if (sha(readFileSync(path)) !== before) return false;
        }
        return true;
      },
    };
    expectClean(await runFuzz(target, { cases, seed }));
  }, 600_000);

  it('IBM standard tape labels', async () => {
    const tape = readFileSync(join(VECTORS_DIR, '07_tape_sl_1file.aws'));
    const labels: Buffer[] = [];
    for (let at = 0; at + 6 <= tape.length;) {
      const length = tape.readUInt16LE(at);
      if (length === 80) labels.push(tape.subarray(at + 6, at + 86));
      at += 6 + length;
    }
    expect(labels.length).toBeGreaterThanOrEqual(5);
    const target: FuzzTarget = {
      name: 'tape-label',
      seeds: labels,
      parse: (input) => {
        const before = sha(input);
        try {
          // As the tape reader does: a block is decoded as a label only if its id says it is one.
          if (labelIdOf(input) !== undefined) decodeStandardLabel(input, { path: 'fuzz', blockNumber: 0, offsetBytes: 0 });
        } finally {
          // Deliberate: a parser that wrote its input fails the property even when it also threw.
          // eslint-disable-next-line no-unsafe-finally
          if (sha(input) !== before) return false;
        }
        return true;
      },
    };
    expectClean(await runFuzz(target, { cases, seed }));
  }, 600_000);

  it('the control API JSON: POST /sessions bodies over a real control socket', async () => {
    const image = join(dir.path, 'served.ckd');
    createVolume(image, { type: '3390', cylinders: 1, volser: 'SRV001' }).close();
    const existingTape = join(dir.path, 'exists.aws');
    writeFileSync(existingTape, 'not a tape');
    const socket = join(dir.path, 'control.sock');
    const server = await VolumeServer.start({
      images: [image],
      nbd: { kind: 'unix', path: join(dir.path, 'served.nbd.sock') },
      control: { kind: 'unix', path: socket },
    });
    const postTo = (path: string, body: Buffer = Buffer.from('{}')): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          { socketPath: socket, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': body.length } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const post = (body: Buffer): Promise<{ status: number; body: string }> => postTo('/sessions', body);
    // Valid requests aim at an existing tape without force; a mutation may still name a new tape,
    // which the server rightly backs up (the session is then cancelled).
    const seeds = [
      { type: 'backup', volume: 'served', tape: existingTape },
      { type: 'backup', volume: 'served', tape: existingTape, workers: 2, datasets: ['A.**', 'B.*'], throttleMbps: 5 },
      { type: 'backup', volume: 'served', tape: existingTape, pauseAfter: 3, pauseMs: 1, tapeVolser: 'T00001' },
    ].map((o) => Buffer.from(JSON.stringify(o)));
    /** Tests write only under their own temp dir: a tape path the mutations moved elsewhere is pinned back inside it. */
    const pinTapeInside = (input: Buffer): Buffer => {
      let value: unknown;
      try {
        value = JSON.parse(input.toString('utf8'));
      } catch {
        return input; // not JSON: sent as it is, for the server's parser
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return input;
      const tape = (value as Record<string, unknown>)['tape'];
      if (typeof tape !== 'string' || resolvePath(tape).startsWith(`${dir.path}/`)) return input;
      return Buffer.from(JSON.stringify({ ...(value as Record<string, unknown>), tape: join(dir.path, `pinned-${tape.length}.aws`) }));
    };
    let serverErrors = 0;
    let accepted = 0;
    const target: FuzzTarget = {
      name: 'control-api-json',
      seeds,
      parse: async (input) => {
        const reply = await post(pinTapeInside(input));
        let parsed: { id?: string; error?: { code: string; message: string } };
        try {
          parsed = JSON.parse(reply.body) as typeof parsed;
        } catch {
          throw new Error(`reply ${reply.status} is not JSON: ${reply.body.slice(0, 200)}`);
        }
        // 500 is a server failure; 503 (shutting down) and 507 (disk full) are states, not bugs.
        if (reply.status === 500) {
          serverErrors++;
          console.log(`5xx reply ${reply.status} to ${pinTapeInside(input).toString('utf8').slice(0, 300)}: ${reply.body.slice(0, 300)}`);
        }
        if (reply.status === 201 && parsed.id) {
          accepted++;
          await postTo(`/sessions/${parsed.id}/cancel`).catch(() => undefined);
          return true;
        }
        if (!parsed.error || !/^Cannot /.test(parsed.error.message) || reply.status < 400)
          throw new Error(`unexpected reply ${reply.status}: ${reply.body.slice(0, 200)}`);
        throw new UsageError(parsed.error.message); // a typed refusal
      },
    };
    try {
      const report = await runFuzz(target, { cases, seed });
      // Here every case is a refusal: count them as typed errors.
      reports.push(report);
      console.log(`fuzz control-api-json: ${accepted} requests accepted (and cancelled), ${report.typedErrors} typed refusals`);
      expect(report.crashes).toEqual([]);
      expect(report.hangs).toBe(0);
      expect(report.typedErrors).toBeGreaterThan(0);
      expect(serverErrors, 'replies with status 500').toBe(0);
      expect(readFileSync(existingTape, 'utf8')).toBe('not a tape');
    } finally {
      await server.shutdown();
    }
  }, 600_000);
});
