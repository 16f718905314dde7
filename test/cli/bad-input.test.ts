/**
 * Layers: scenario (bad input). Each damaged image, through the real CLI, gives one line on stderr
 * that names the file and the location, a non-zero exit of its error code, no lock left behind,
 * and the file's bytes unchanged (sha256 before/after), for a reader (`ls`) and a writer (`alloc`).
 * Address errors are checked through the API, which is where a CCHHR is given.
 */
import { copyFileSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { AddressRangeError, RecordNotFoundError } from '../../src/errors/snaptape-error.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { sha256File, trackOffset3390 } from '../harness/dasd.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

let dir: TempDir;
let vector02: string;
beforeAll(() => {
  dir = makeTempDir();
  vector02 = vectorPath('02_ckd3390_dasdload_5cyl.ckd', dir.path);
});
afterAll(() => dir.cleanup());

let copies = 0;
/** A private copy of vector 02, damaged by `damage`. */
function damaged(damage: (path: string) => void, suffix = '.ckd'): string {
  const path = join(dir.path, `bad-${copies++}${suffix}`);
  copyFileSync(vector02, path);
  damage(path);
  return path;
}

function patch(path: string, offset: number, bytes: Buffer): void {
  const data = readFileSync(path);
  bytes.copy(data, offset);
  writeFileSync(path, data);
}

/** Runs the commands on `image` and checks: exit status, one line naming file and location, bytes unchanged. */
function expectRefused(image: string, code: keyof typeof EXIT_STATUS_BY_CODE, message: RegExp, commands?: string[][]): void {
  const before = sha256File(image);
  const host = join(dir.path, 'host.txt');
  writeFileSync(host, 'HELLO\n');
  const defaults = [
    ['ls', image],
    ['alloc', image, 'NEW.DS', '--tracks', '1'],
    ['put', image, 'TEST.TEXT.FB80', host, '--text'],
  ];
  for (const args of commands ?? defaults) {
    const r = runSnaptape(args);
    expect(r.status, `${args[0]}: ${r.stderr}`).toBe(EXIT_STATUS_BY_CODE[code]);
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    expect(lines, `${args[0]} prints one line`).toHaveLength(1);
    expect(lines[0]).toMatch(/^snaptape: Cannot /);
    expect(lines[0]).toContain(image);
    expect(lines[0]).toMatch(message);
    expect(r.stdout).toBe('');
    const json = runSnaptape([...args, '--json']);
    expect(JSON.parse(json.stdout).error.code).toBe(code);
    expect(sha256File(image), `${args[0]} left the bytes alone`).toBe(before);
    expect(existsSync(`${image}.lock`), `${args[0]} left no lock`).toBe(false);
  }
}

describe('damaged images are refused with a one-line typed error, bytes unchanged', () => {
  it('a truncated image (part of the last track cut off)', () => {
    const image = damaged((p) => truncateSync(p, 4262912 - 1000));
    expectRefused(image, 'IMAGE_FORMAT', /4261912 bytes is not 512 \+ whole cylinders of 15 × 56832 bytes \(truncated\?\)/);
  });

  it('an image truncated inside its device header', () => {
    const image = damaged((p) => truncateSync(p, 300));
    expectRefused(image, 'IMAGE_FORMAT', /truncated: 300 bytes is shorter than the 512-byte device header/);
  });

  it('a wrong header: bad devid', () => {
    const image = damaged((p) => patch(p, 0, Buffer.from('CKD_X370', 'latin1')));
    expectRefused(image, 'IMAGE_FORMAT', /unknown header "CKD_X370" at offset 0/);
  });

  it('a CCKD devid over an uncompressed image is read as CCKD, and its compressed header is refused', () => {
    const image = damaged((p) => patch(p, 0, Buffer.from('CKD_C370', 'latin1')));
    expectRefused(image, 'IMAGE_FORMAT', /compressed header says 0 L2 entries at offset 520, expected 256/);
  });

  it('a wrong header: bad device type byte', () => {
    const image = damaged((p) => patch(p, 16, Buffer.from([0x33])));
    expectRefused(image, 'IMAGE_FORMAT', /device type byte 0x33 at offset 16 is not a 3390 \(0x90\) or 3380 \(0x80\)/);
  });

  it('a wrong header: heads that the device does not have', () => {
    const image = damaged((p) => patch(p, 8, Buffer.from([14, 0, 0, 0])));
    expectRefused(image, 'IMAGE_FORMAT', /header says 14 heads at offset 8, but a 3390 has 15/);
  });

  it('geometry that disagrees with the file size: a 3380 track size in a 3390-sized file', () => {
    const image = damaged((p) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(47616);
      patch(p, 12, b);
    });
    expectRefused(image, 'IMAGE_FORMAT', /geometry disagrees with the file size: 4262912 bytes is not 512 \+ whole cylinders of 15 × 47616 bytes/);
  });

  it('geometry that disagrees with the file size: one extra track slot appended', () => {
    const image = damaged((p) => {
      const b = readFileSync(p);
      writeFileSync(p, Buffer.concat([b, Buffer.alloc(56832)]));
    });
    expectRefused(image, 'IMAGE_FORMAT', /geometry disagrees with the file size: 4319744 bytes/);
  });

  it('a DSCB that points outside the volume (an F1 extent ending on cylinder 999)', () => {
    // TEST.SEQ.F4096's Format-1 is R4 on cyl 0 head 8: count at 455633 (vector 02 .txt), DSCB after it.
    const f1 = 455633 + 8;
    const image = damaged((p) => {
      expect(readFileSync(p).subarray(f1 + 44, f1 + 45)[0]).toBe(0xf1);
      const end = Buffer.alloc(2);
      end.writeUInt16BE(999);
      patch(p, f1 + 105 + 6, end); // DS1EXT1 end CC
    });
    expectRefused(
      image,
      'VTOC',
      /data set TEST\.SEQ\.F4096 \(Format-1 at CCHHR 0000000804\) has an extent \(CC\/HH 0\/3-999\/5\) outside the volume \(cylinders 0-4, heads 0-14\)/,
    );
  });

  it('a VOL1 whose VTOC pointer is outside the volume', () => {
    // VOL1 data starts at 0x2D5 + 8 + 4 (count, key); the CCHHR is at data offset 11.
    const image = damaged((p) => patch(p, 0x2d5 + 12 + 11, Buffer.from([0x03, 0xe7, 0, 0, 1])));
    expectRefused(image, 'VTOC', /Cannot read the VTOC of .*: VOL1 points at CCHHR 03E7000001, outside the volume/);
  });

  it('a track whose home address is not its own', () => {
    // Track 3's HA says head 4.
    const image = damaged((p) => patch(p, trackOffset3390(3) + 3, Buffer.from([0, 4])));
    // Track 3 is TEST.SEQ.F4096's first track: reading that data set meets it.
    expectRefused(image, 'IMAGE_FORMAT', /Cannot read track 3 of .*: home address is 0000000004, expected CC=0 HH=3 at track offset 0/, [
      ['get', image, 'TEST.SEQ.F4096', join(dir.path, 'seq.out')],
    ]);
    // A put format-writes the data set's tracks from R0, which erases a track whatever it held
    // (as a format write does on real DASD), so it rewrites the damaged track with the new data.
    const host = join(dir.path, 'host.bin');
    writeFileSync(host, Buffer.alloc(4096, 0x5a));
    expect(runSnaptape(['put', image, 'TEST.SEQ.F4096', host]).status).toBe(0);
    const out = join(dir.path, 'seq-after.out');
    expect(runSnaptape(['get', image, 'TEST.SEQ.F4096', out]).status).toBe(0);
    expect(readFileSync(out).equals(Buffer.alloc(4096, 0x5a))).toBe(true);
  });
});

describe('addresses outside the volume, through the API', () => {
  it('readTrackAt / readRecord / formatWrite with a CCHHR out of range → AddressRangeError naming file and address', () => {
    const image = damaged(() => undefined);
    const before = sha256File(image);
    const volume = openVolume(image);
    try {
      const cases: Array<[() => unknown, RegExp]> = [
        [() => volume.readTrackAt({ cylinder: 5, head: 0 }), /Cannot address CC=5 HH=0 on .*: the volume has cylinders 0-4 and heads 0-14/],
        [() => volume.readTrackAt({ cylinder: 0, head: 15 }), /Cannot address CC=0 HH=15 on /],
        [() => volume.readRecord({ cylinder: 70, head: 3, record: 1 }), /Cannot address CC=70 HH=3 on /],
        [() => volume.readTrack(75), /Cannot address track 75 on .*: the volume has tracks 0-74/],
        [() => volume.formatWrite({ cylinder: 5, head: 1 }, 0, []), /Cannot address CC=5 HH=1 on /],
        [() => volume.updateRecord({ cylinder: 0, head: 16, record: 1 }, Buffer.alloc(1)), /Cannot address CC=0 HH=16 on /],
        [() => volume.writeTrackImages(75, [Buffer.alloc(29)]), /Cannot address track 75 on /],
      ];
      for (const [call, message] of cases) {
        let caught: unknown;
        try {
          call();
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(AddressRangeError);
        expect((caught as AddressRangeError).code).toBe('ADDRESS_RANGE');
        expect((caught as Error).message).toMatch(message);
        expect((caught as Error).message).toContain(image);
      }
    } finally {
      volume.close();
    }
    expect(sha256File(image)).toBe(before);
  });

  it('a missing record → RecordNotFoundError naming the CCHHR', () => {
    const image = damaged(() => undefined);
    const before = sha256File(image);
    const volume = openVolume(image);
    try {
      expect(volume.readRecord({ cylinder: 0, head: 0, record: 3 }).key.toString('hex')).toBe('e5d6d3f1'); // VOL1 (control)
      const cases: Array<[() => unknown, RegExp]> = [
        [() => volume.readRecord({ cylinder: 0, head: 0, record: 4 }), /Cannot read CCHHR 0000000004 on .*: the track has no record 4/],
        [() => volume.readRecord({ cylinder: 0, head: 2, record: 1 }), /Cannot read CCHHR 0000000201 on /],
        [() => volume.updateRecord({ cylinder: 0, head: 9, record: 51 }, Buffer.alloc(96)), /Cannot update CCHHR 0000000933 on /],
        [() => volume.formatWrite({ cylinder: 0, head: 1 }, 9, []), /Cannot format-write after CCHHR 0000000109 on /],
      ];
      for (const [call, message] of cases) {
        let caught: unknown;
        try {
          call();
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(RecordNotFoundError);
        expect((caught as RecordNotFoundError).code).toBe('RECORD_NOT_FOUND');
        expect((caught as Error).message).toMatch(message);
      }
    } finally {
      volume.close();
    }
    expect(sha256File(image)).toBe(before);
  });
});

describe('init onto an existing file', () => {
  it('without --force: TARGET_EXISTS, one line, the file unchanged; with --force it is replaced', () => {
    const image = damaged(() => undefined);
    const before = sha256File(image);
    const r = runSnaptape(['init', image, '--type', '3390', '--cyls', '3', '--volser', 'NEW001']);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.TARGET_EXISTS);
    expect(r.stderr.trim().split('\n')).toEqual([`snaptape: Cannot create ${image}: the file exists (use --force to replace it)`]);
    expect(sha256File(image)).toBe(before);
    expect(existsSync(`${image}.lock`)).toBe(false);
    const forced = runSnaptape(['init', image, '--type', '3390', '--cyls', '3', '--volser', 'EMPTY1', '--no-vtoc', '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(sha256File(image)).toBe('478f572959e3dcd3855c832bbd957f91b729008e26ed2a91606dbe3e040a198b');
  });

  it('usage errors are one line with the usage exit status', () => {
    const r = runSnaptape(['alloc', join(dir.path, 'x.ckd'), 'A.B']);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.USAGE);
    expect(r.stderr.trim().split('\n')).toEqual(['snaptape: Cannot allocate: give exactly one of --tracks N or --cyls N']);
    const missing = runSnaptape(['ls', join(dir.path, 'does-not-exist.ckd')]);
    expect(missing.status).toBe(EXIT_STATUS_BY_CODE.IO);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('does-not-exist.ckd: no such file');
  });
});
