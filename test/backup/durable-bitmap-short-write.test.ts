/**
 * The backup's session bitmap is what a resume trusts: a short write must not leave a slot's state
 * torn on disk while the session believes it is recorded. Short writes are injected on the bitmap
 * file's descriptor (test/harness/short-io-fs.ts); the bytes are read back from the real file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurableSlotBitmap, PERSISTED_SPOOLED } from '../../src/techniques/tape-backup/durable-bitmap.js';
import { UNIT_STATE } from '../../src/engine/track-state.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { shortIoOn, type ShortIo } from '../harness/short-io-fs.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

function statesOnDisk(path: string): number[] {
  const bytes = readFileSync(path);
  return Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
}

describe('DurableSlotBitmap under short writes', () => {
  let dir: TempDir;
  let faults: ShortIo | undefined;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => {
    faults?.restore();
    faults = undefined;
    dir.cleanup();
  });

  it('create and mark write every state whole when the kernel takes one byte per call', () => {
    const path = join(dir.path, 'tape.aws.session.bitmap');
    writeFileSync(path, Buffer.alloc(32, 0xee));
    faults = shortIoOn(path, 1);
    const bitmap = DurableSlotBitmap.create(path, new Int32Array(8).fill(UNIT_STATE.PENDING));
    bitmap.mark(3, PERSISTED_SPOOLED);
    bitmap.mark(5, UNIT_STATE.COPIED);
    faults.restore();
    bitmap.close();
    const expected = new Array<number>(8).fill(UNIT_STATE.PENDING);
    expected[3] = PERSISTED_SPOOLED;
    expected[5] = UNIT_STATE.COPIED;
    expect(statesOnDisk(path)).toEqual(expected);
  });

  it('a write that makes no progress is an IoError naming the bitmap, and the state is not taken as recorded', () => {
    const path = join(dir.path, 'tape.aws.session.bitmap');
    const bitmap = DurableSlotBitmap.create(path, new Int32Array(4).fill(UNIT_STATE.PENDING));
    faults = shortIoOn(path, 0);
    expect(() => bitmap.mark(2, UNIT_STATE.COPIED)).toThrow(IoError);
    expect(() => bitmap.mark(2, UNIT_STATE.COPIED)).toThrow(/session bitmap.*tape\.aws\.session\.bitmap|tape\.aws\.session\.bitmap.*no progress/);
    faults.restore();
    bitmap.mark(2, UNIT_STATE.COPIED);
    bitmap.close();
    expect(statesOnDisk(path)).toEqual([UNIT_STATE.PENDING, UNIT_STATE.PENDING, UNIT_STATE.COPIED, UNIT_STATE.PENDING]);
  });
});
