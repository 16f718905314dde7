/**
 * The one file-I/O module: a short transfer is finished, the end of the file and a write that makes
 * no progress are typed errors naming the file and the byte offset, and a full file system (a real
 * tmpfs mounted by the test, skipped where mount is not permitted) is a NoSpaceError.
 */
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readAtMost, readFully, writeFully, writevFully, writevFullyAsync } from '../../src/base/file-io.js';
import { ImageFormatError, IoError, NoSpaceError } from '../../src/errors/snaptape-error.js';
import { shortIoOn, type ShortIo } from '../harness/short-io-fs.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { useSmallTmpfs } from '../harness/small-tmpfs.js';

const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));

describe('file-io on short transfers', () => {
  let dir: TempDir;
  let faults: ShortIo | undefined;
  beforeAll(() => {
    dir = makeTempDir();
  });
  afterEach(() => {
    faults?.restore();
    faults = undefined;
  });
  afterAll(() => dir.cleanup());

  it('readFully finishes a read the kernel returns 3 bytes at a time', () => {
    const path = join(dir.path, 'short-read.bin');
    writeFileSync(path, pattern(100));
    const fd = openSync(path, 'r');
    faults = shortIoOn(path, 3);
    const out = Buffer.alloc(50);
    readFully(fd, out, 20, path);
    closeSync(fd);
    expect(out).toEqual(pattern(100).subarray(20, 70));
    expect(faults.calls.read).toBe(17);
  });

  it('readFully past the end of the file is an IoError naming the file and the byte offset', () => {
    const path = join(dir.path, 'eof.bin');
    writeFileSync(path, pattern(100));
    const fd = openSync(path, 'r');
    try {
      expect(() => readFully(fd, Buffer.alloc(50), 80, path, 'the image')).toThrow(IoError);
      expect(() => readFully(fd, Buffer.alloc(50), 80, path, 'the image')).toThrow(`the image ends at byte 100`);
      expect(() => readFully(fd, Buffer.alloc(50), 80, path, 'the image')).toThrow(path);
      expect(() => readFully(fd, Buffer.alloc(50), 80, path, 'the image', (end) => new ImageFormatError(`ends at ${end}`))).toThrow(
        new ImageFormatError('ends at 100'),
      );
      const probe = Buffer.alloc(50);
      expect(readAtMost(fd, probe, 80, path)).toBe(20);
      expect(probe.subarray(0, 20)).toEqual(pattern(100).subarray(80));
    } finally {
      closeSync(fd);
    }
  });

  it('writeFully and writevFully finish writes the kernel takes 5 bytes at a time', () => {
    const path = join(dir.path, 'short-write.bin');
    writeFileSync(path, Buffer.alloc(64));
    const fd = openSync(path, 'r+');
    faults = shortIoOn(path, 5);
    writeFully(fd, pattern(23), 1, path);
    writevFully(fd, [pattern(7), Buffer.alloc(0), pattern(12)], 30, path);
    faults.restore();
    closeSync(fd);
    const expected = Buffer.alloc(64);
    pattern(23).copy(expected, 1);
    Buffer.concat([pattern(7), pattern(12)]).copy(expected, 30);
    expect(readFileSync(path)).toEqual(expected);
  });

  it('writevFullyAsync finishes a write of several buffers the kernel takes 5 bytes at a time', async () => {
    const path = join(dir.path, 'short-writev-async.bin');
    writeFileSync(path, Buffer.alloc(64));
    const fd = openSync(path, 'r+');
    faults = shortIoOn(path, 5);
    const pieces = [pattern(7), Buffer.alloc(0), pattern(12).subarray(3), pattern(4)];
    await writevFullyAsync(fd, pieces, 30, path);
    const calls = faults.calls.writev;
    faults.restore();
    closeSync(fd);
    const expected = Buffer.alloc(64);
    Buffer.concat(pieces).copy(expected, 30);
    expect(readFileSync(path)).toEqual(expected);
    // The harness writes at most 5 bytes of the first buffer left: 5 + 2, 5 + 4, 4.
    expect(calls).toBe(5);
  });

  it('writevFullyAsync that makes no progress is an IoError naming the file and the byte offset', async () => {
    const path = join(dir.path, 'stuck-async.bin');
    writeFileSync(path, Buffer.alloc(16));
    const fd = openSync(path, 'r+');
    faults = shortIoOn(path, 0);
    try {
      await expect(writevFullyAsync(fd, [pattern(3), pattern(5)], 2, path, 'the units')).rejects.toThrow(
        `Cannot write the units at byte 2: ${path}: the write made no progress`,
      );
    } finally {
      faults.restore();
      closeSync(fd);
    }
  });

  it('a write that makes no progress is an IoError naming the file and the byte offset', () => {
    const path = join(dir.path, 'stuck.bin');
    writeFileSync(path, Buffer.alloc(16));
    const fd = openSync(path, 'r+');
    faults = shortIoOn(path, 0);
    try {
      expect(() => writeFully(fd, pattern(8), 4, path, 'the bitmap')).toThrow(IoError);
      expect(() => writeFully(fd, pattern(8), 4, path, 'the bitmap')).toThrow(`Cannot write the bitmap at byte 4: ${path}: the write made no progress`);
      expect(() => writevFully(fd, [pattern(8)], 9, path, 'the spool')).toThrow(`Cannot write the spool at byte 9: ${path}`);
    } finally {
      faults.restore();
      closeSync(fd);
    }
  });
});

describe('file-io on a full file system (a 64 KiB tmpfs)', () => {
  const tmpfs = useSmallTmpfs('small', '64k', 'the tmpfs disk-full test');

  it('writeFully of more than the file system holds is a NoSpaceError naming the file', (context) => {
    if (!tmpfs.mounted) return context.skip();
    const path = join(tmpfs.path, 'big.bin');
    const fd = openSync(path, 'w');
    try {
      expect(() => writeFully(fd, Buffer.alloc(256 * 1024, 1), 0, path, 'the spool')).toThrow(NoSpaceError);
      expect(() => writevFully(fd, [Buffer.alloc(128 * 1024, 2), Buffer.alloc(128 * 1024, 3)], 0, path, 'the spool')).toThrow(
        `no space left on the device holding ${path}`,
      );
    } finally {
      closeSync(fd);
    }
  });
});
