/**
 * Layer: scenario (issue 22, point 2). Each element's digest is made beside the copy: the digest
 * pass reads every data block back from the tape once it is copied and stores the SHA-256 of its
 * payload, and the backup folds them, in tape order, into UTL1's `BLKSHA256=` (native-layout/backup-tape-labels.md):
 * - UTL1 equals the construction recomputed here from an independent walk of the AWSTAPE headers;
 * - `verify` passes; one payload byte flipped fails `verify` and `restore`, naming the element; one
 *   chunk header byte flipped fails `verify`;
 * - host writes during the backup (copies before them, straight to the tape or through a spool and
 *   its drain) leave UTL1 equal to the construction of the blocks on the tape;
 * - a tape with the old construction (`SHA256=`, one SHA-256 over the payloads) still verifies and
 *   restores, and a flipped payload byte on it still fails.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup, type BackupRun } from '../../src/api/backup-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { decodeEbcdicTrimmed } from '../../src/base/ebcdic.js';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';
import { verifyBackupTape } from '../../src/techniques/restore/backup-tape.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { encodeAwsBlockHeader, FLAG1_END_OF_RECORD, FLAG1_NEW_RECORD, FLAG1_TAPEMARK, FLAG1_WHOLE_BLOCK, FLAG1_ZLIB } from '../../src/tape/aws-block-header.js';
import { readTapeBlocks, sealTapeBlocks, writeTapeBlocks } from '../harness/craft-backup-tape.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { awsEntries, blockSha256Of, type AwsEntry } from './backup-test-helpers.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
let run: BackupRun;
let tape: string;

/** Per file of a standard-labelled tape: its data blocks (between its 1st and 2nd tapemark) and its UTL1 text. */
function files(bytes: Buffer): Array<{ data: AwsEntry[]; utl1: string }> {
  const entries = awsEntries(bytes);
  const out: Array<{ data: AwsEntry[]; utl1: string }> = [];
  let tapemarks = 0;
  let data: AwsEntry[] = [];
  for (const e of entries) {
    if (e.kind === 'tapemark') {
      tapemarks++;
      continue;
    }
    if (tapemarks % 3 === 1) data.push(e);
    if (tapemarks % 3 === 2 && e.length === 80) {
      const label = bytes.subarray(e.offset + 6, e.offset + 86);
      // "UTL1" in EBCDIC.
      if (label.subarray(0, 4).equals(Buffer.from([0xe4, 0xe3, 0xd3, 0xf1]))) {
        out.push({ data, utl1: decodeEbcdicTrimmed(label.subarray(4)) });
        data = [];
      }
    }
  }
  return out;
}

/** BLKSHA256 by hand (blockSha256Of) of the blocks `data` of `bytes`. */
function blockSha256(bytes: Buffer, data: readonly AwsEntry[]): string {
  return blockSha256Of(data.map((e) => bytes.subarray(e.offset + 6, e.offset + 6 + e.length)));
}

function flipped(name: string, original: Buffer, offset: number): string {
  const copy = Buffer.from(original);
  copy[offset] = (copy[offset] as number) ^ 0x01;
  writeFileSync(at(name), copy);
  return at(name);
}

function failureOf(action: () => unknown): string {
  try {
    action();
    return 'passed';
  } catch (error) {
    if (error instanceof SnaptapeError) return error.message;
    throw error;
  }
}

beforeAll(async () => {
  dir = makeTempDir('snaptape-block-digest-');
  const volume = makeFilledVolume(dir.path, { cylinders: 3, seed: 11, name: 'source.ckd' });
  tape = at('volume.aws');
  try {
    run = await runBackup(volume, { tapePath: tape, workers: 2 });
  } finally {
    volume.close();
  }
}, 120_000);
afterAll(() => dir.cleanup());

describe("a backup's UTL1 is BLKSHA256, made by the copy", () => {
  it('equals the construction recomputed from the tape, and verify passes', () => {
    const bytes = readFileSync(tape);
    const found = files(bytes);
    expect(found).toHaveLength(1);
    const file = found[0]!;
    expect(file.data.length).toBe(run.summary.elements[0]?.blocks);
    const expected = blockSha256(bytes, file.data);
    expect(file.utl1).toBe(`BLKSHA256=${expected}`);
    expect(run.summary.elements[0]?.sha256).toBe(expected);
    expect(run.summary.elements[0]?.digest).toBe('BLKSHA256');
    const report = verifyBackupTape(tape);
    expect(report.ok).toBe(true);
    expect(report.elements[0]?.sha256).toBe(expected);
  });

  it('one payload byte flipped fails verify and restore, naming the element; a chunk header byte fails verify', () => {
    const bytes = readFileSync(tape);
    const data = files(bytes)[0]!.data;
    const block = data[Math.floor(data.length / 2)]!;
    const payload = flipped('payload.aws', bytes, block.offset + 6 + Math.floor(block.length / 2));
    const report = verifyBackupTape(payload);
    expect(report.ok).toBe(false);
    expect(report.elements.find((e) => !e.ok)?.name).toMatch(/FULLVOLUME/);
    expect(failureOf(() => restoreTape(payload, { to: at('restored-bad.ckd'), newVolume: true }))).toMatch(/FULLVOLUME/);
    expect(failureOf(() => restoreTape(payload, { to: at('restored-bad2.ckd'), newVolume: true, force: true }))).toMatch(/FULLVOLUME/);
    // The chunk header's previous-length field of that block.
    const header = flipped('header.aws', bytes, block.offset + 2);
    expect(failureOf(() => verifyBackupTape(header))).toMatch(/block \d+/);
  });

  it('restores to the source it was made from', () => {
    restoreTape(tape, { to: at('restored.ckd'), newVolume: true });
    expect(compareImages(at('source.ckd'), at('restored.ckd')).mismatched).toBe(0);
  });
});

/**
 * The tape's blocks as other writers store them: each block of more than 80 bytes in two chunks
 * (`split`), or zlib-compressed as on a HET tape (`zlib`). The data, and so its digests, are the same.
 */
function rewritten(name: string, how: 'split' | 'zlib', flipInSecondChunk = false): string {
  const parts: Buffer[] = [];
  let previous = 0;
  const chunk = (data: Buffer, flags1: number): void => {
    parts.push(encodeAwsBlockHeader({ curlenBytes: data.length, prvlenBytes: previous, flags1, flags2: 0 }), data);
    previous = data.length;
  };
  let flipped = false;
  for (const block of readTapeBlocks(tape)) {
    if (block === null) {
      parts.push(encodeAwsBlockHeader({ curlenBytes: 0, prvlenBytes: previous, flags1: FLAG1_TAPEMARK, flags2: 0 }));
      previous = 0;
    } else if (block.length <= 80) chunk(block, FLAG1_WHOLE_BLOCK);
    else if (how === 'zlib') chunk(deflateSync(block), FLAG1_WHOLE_BLOCK | FLAG1_ZLIB);
    else {
      const half = block.length >> 1;
      const second = Buffer.from(block.subarray(half));
      if (flipInSecondChunk && !flipped) {
        second[3] = (second[3] as number) ^ 0x01;
        flipped = true;
      }
      chunk(block.subarray(0, half), FLAG1_NEW_RECORD);
      chunk(second, FLAG1_END_OF_RECORD);
    }
  }
  writeFileSync(at(name), Buffer.concat(parts));
  return at(name);
}

describe('the same BLKSHA256 tape stored as other writers store blocks', () => {
  for (const how of ['split', 'zlib'] as const) {
    it(`${how === 'split' ? 'in two chunks a block' : 'zlib-compressed (HET)'}: verify and restore agree with the tape as written`, () => {
      const other = rewritten(`${how}.aws`, how);
      const report = verifyBackupTape(other);
      expect(report.ok).toBe(true);
      expect(report.elements.map((e) => e.sha256)).toEqual(run.summary.elements.map((e) => e.sha256));
      restoreTape(other, { to: at(`restored-${how}.ckd`), newVolume: true });
      expect(compareImages(at('source.ckd'), at(`restored-${how}.ckd`)).mismatched).toBe(0);
    });
  }

  it('a byte flipped in the second chunk of a block: verify and restore both refuse, naming the element', () => {
    const bad = rewritten('split-bad.aws', 'split', true);
    expect(verifyBackupTape(bad).elements[0]?.ok).toBe(false);
    expect(failureOf(() => restoreTape(bad, { to: at('restored-split-bad.ckd'), newVolume: true }))).toMatch(/FULLVOLUME/);
  });
});

describe('a tape with the old construction (SHA256=)', () => {
  it('still verifies and restores; a flipped payload byte still fails', () => {
    const old = at('old.aws');
    writeTapeBlocks(old, sealTapeBlocks(readTapeBlocks(tape), 'SHA256'));
    const bytes = readFileSync(old);
    const file = files(bytes)[0]!;
    const whole = createHash('sha256');
    for (const e of file.data) whole.update(bytes.subarray(e.offset + 6, e.offset + 6 + e.length));
    expect(file.utl1).toBe(`SHA256=${whole.digest('hex')}`);
    const report = verifyBackupTape(old);
    expect(report.ok).toBe(true);
    restoreTape(old, { to: at('restored-old.ckd'), newVolume: true });
    expect(compareImages(at('source.ckd'), at('restored-old.ckd')).mismatched).toBe(0);
    const block = file.data[1]!;
    const bad = flipped('old-bad.aws', bytes, block.offset + 6 + 10);
    expect(verifyBackupTape(bad).elements[0]?.ok).toBe(false);
    expect(failureOf(() => restoreTape(bad, { to: at('restored-old-bad.ckd'), newVolume: true }))).toMatch(/FULLVOLUME/);
  });
});

describe('host writes during the backup', () => {
  for (const spooled of [false, true]) {
    it(`leave UTL1 equal to the blocks on the tape (copies before the writes${spooled ? ', through a spool' : ''})`, async () => {
      const name = spooled ? 'spooled' : 'direct';
      const copy = at(`${name}.ckd`);
      writeFileSync(copy, readFileSync(at('source.ckd')));
      const volume = openVolume(copy);
      const reference = at(`${name}-reference.ckd`);
      writeFileSync(reference, readFileSync(copy));
      const tapePath = at(`${name}.aws`);
      try {
        const session = TapeBackupSession.start(volume, {
          tapePath,
          workers: 2,
          throttleMbps: 4,
          ...(spooled ? { spoolPath: at(`${name}.spool`) } : {}),
        });
        // Synchronous writes right after the start instant: each track is copied (or spooled) first.
        for (let track = 3; track < 40; track += 3) volume.writeTrackRecords(track, [{ key: Buffer.alloc(0), data: Buffer.alloc(200, track) }]);
        const summary = await session.done;
        expect(summary.copiedOutOfOrder).toBeGreaterThan(0);
        if (spooled) expect(summary.spool?.bytesSpooled).toBeGreaterThan(0);
        const bytes = readFileSync(tapePath);
        const file = files(bytes)[0]!;
        expect(file.utl1).toBe(`BLKSHA256=${blockSha256(bytes, file.data)}`);
        expect(verifyBackupTape(tapePath).ok).toBe(true);
      } finally {
        volume.close();
      }
      restoreTape(tapePath, { to: at(`${name}-restored.ckd`), newVolume: true });
      expect(compareImages(reference, at(`${name}-restored.ckd`)).mismatched).toBe(0);
    }, 60_000);
  }
});
