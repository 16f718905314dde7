/**
 * Layer: unit. The Hercules device ids at byte 0 of a volume image: `inspectImage` (what an open
 * makes of a file) and `volumeImageKind` (what a tape writer about to replace a file takes for a
 * volume) judge them from one list, so they agree on every one: a file starting with a Hercules
 * device id is a volume image to both, never taken for a headerless FBA image (even named `.fba`),
 * and never cut by a writer. An FBA image with VOL1 in block 1 is one to both as well.
 */
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEbcdic } from '../../src/base/ebcdic.js';
import { ImageFormatError } from '../../src/errors/snaptape-error.js';
import { encodeCkdHeader } from '../../src/image/ckd-image-header.js';
import { HERCULES_DEVIDS as TABLE } from '../../src/image/image-devids.js';
import { inspectImage, volumeImageKind } from '../../src/image/open-image.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** Every device id Hercules writes at byte 0 of an image (dasdblks.h): CKD, CCKD, CCKD64, compressed FBA. */
const HERCULES_DEVIDS = ['CKD_P370', 'CKD_C370', 'CKD_S370', 'CKD_P064', 'CKD_C064', 'CKD_S064', 'FBA_C370', 'FBA_S370', 'FBA_C064', 'FBA_S064'];

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-device-ids-');
});
afterAll(() => dir.cleanup());

/** A file of whole 512-byte blocks starting with `head`, opened read-only for `use`. */
function withFile<T>(name: string, head: Buffer, use: (path: string, fd: number) => T): T {
  const path = join(dir.path, name);
  const bytes = Buffer.alloc(512 + 15 * 56_832, 0);
  head.copy(bytes, 0);
  writeFileSync(path, bytes);
  const fd = openSync(path, 'r');
  try {
    return use(path, fd);
  } finally {
    closeSync(fd);
  }
}

/** What inspectImage makes of the file: its format, or the ImageFormatError's message. */
function inspected(path: string, fd: number): string {
  try {
    return inspectImage(path, fd).format;
  } catch (error) {
    expect(error).toBeInstanceOf(ImageFormatError);
    return (error as Error).message;
  }
}

describe('inspectImage and volumeImageKind agree on every Hercules device id', () => {
  it("snaptape's one list of device ids holds every one Hercules writes", () => {
    expect([...TABLE.keys()].sort()).toEqual([...HERCULES_DEVIDS].sort());
  });

  it.each([...new Set([...HERCULES_DEVIDS, ...TABLE.keys()])])('%s: a volume image to both, never a headerless FBA image', (devid) => {
    // A valid CKD_P370 header (a 3390 of one cylinder); the others only their device id.
    const head =
      devid === 'CKD_P370'
        ? encodeCkdHeader({ heads: 15, trackSlotBytes: 56_832, devtypeByte: 0x90, fileSequence: 0, highCylinder: 0 })
        : Buffer.from(devid.padEnd(8, '\0'), 'latin1');
    for (const name of [`${devid}.img`, `${devid}.fba`]) {
      withFile(name, head, (path, fd) => {
        expect(volumeImageKind(fd, path), `${name}: a writer takes it for a volume`).toContain(devid);
        const what = inspected(path, fd);
        if (devid === 'CKD_P370') expect(what).toBe('ckd');
        else expect(what, `${name}: refused, naming its device id`).toContain(devid);
      });
    }
  });

  it('an FBA image with VOL1 in block 1 is one to both', () => {
    const head = Buffer.alloc(1024, 0);
    encodeEbcdic('VOL1').copy(head, 512);
    withFile('labelled.img', head, (path, fd) => {
      expect(volumeImageKind(fd, path)).toMatch(/FBA/);
      expect(inspected(path, fd)).toBe('fba');
    });
  });

  it('a file that starts as no volume is one to neither (its name aside)', () => {
    withFile('plain.img', Buffer.from('just some bytes'), (path, fd) => {
      expect(volumeImageKind(fd, path)).toBeUndefined();
      expect(inspected(path, fd)).toMatch(/unknown header/);
    });
  });
});
