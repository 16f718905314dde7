/**
 * Layers: property (encode/decode round trip), golden vectors (every track of vectors 01 and 02
 * against the record summary in their .txt), unit (malformed tracks are ImageFormatErrors that
 * name the file, the track and the offset).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTrack, encodeTrack, trackUsedBytes, type CkdRecord, type CkdTrack } from '../../src/ckd/track-codec.js';
import { ImageFormatError } from '../../src/errors/snaptape-error.js';
import { parseRecordSummary, HERCULES_3390, trackOffset3390 } from '../harness/dasd.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { VECTORS_DIR, vectorPath } from '../harness/vectors.js';

const SLOT = HERCULES_3390.trackSlotBytes;

const recordArb: fc.Arbitrary<CkdRecord> = fc
  .record({
    cylinder: fc.integer({ min: 0, max: 0xffff }),
    head: fc.integer({ min: 0, max: 0xffff }),
    record: fc.integer({ min: 0, max: 255 }),
    key: fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)),
    data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1000, maxLength: 5000 })).map((a) => Buffer.from(a)),
  })
  .filter((r) => !(r.cylinder === 0xffff && r.head === 0xffff)); // an all-FF count would be the EOT marker

const trackArb: fc.Arbitrary<CkdTrack> = fc.record({
  cchh: fc.record({ cylinder: fc.integer({ min: 0, max: 0xffff }), head: fc.integer({ min: 0, max: 14 }) }),
  r0Data: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((a) => Buffer.from(a)),
  records: fc.array(recordArb, { maxLength: 12 }),
});

describe('track codec: property round trip', () => {
  it('decodeTrack(encodeTrack(t)) = t, in a padded slot with stale bytes after the EOT', () => {
    const seed = fcSeed('track-codec-roundtrip');
    fc.assert(
      fc.property(trackArb, fc.integer({ min: 0, max: 255 }), (track, staleByte) => {
        const image = encodeTrack(track);
        expect(image.length).toBe(5 + 16 + track.records.reduce((n, r) => n + 8 + r.key.length + r.data.length, 0) + 8);
        // HA = 00 CC HH, EOT = FF x 8 at the end.
        expect(image[0]).toBe(0);
        expect(image.readUInt16BE(1)).toBe(track.cchh.cylinder);
        expect(image.readUInt16BE(3)).toBe(track.cchh.head);
        expect(image.subarray(image.length - 8).equals(Buffer.alloc(8, 0xff))).toBe(true);
        const slot = Buffer.alloc(SLOT, staleByte);
        image.copy(slot);
        const source = { path: 'roundtrip.ckd', trackIndex: 7 };
        expect(trackUsedBytes(slot, track.cchh, source)).toBe(image.length);
        const back = decodeTrack(slot, track.cchh, source);
        expect(back.cchh).toEqual(track.cchh);
        expect(back.r0Data.equals(track.r0Data)).toBe(true);
        expect(back.records.length).toBe(track.records.length);
        back.records.forEach((r, i) => {
          const want = track.records[i] as CkdRecord;
          expect([r.cylinder, r.head, r.record]).toEqual([want.cylinder, want.head, want.record]);
          expect(r.key.equals(want.key)).toBe(true);
          expect(r.data.equals(want.data)).toBe(true);
        });
        // Byte-exact: re-encoding the decoded track gives the same bytes.
        expect(encodeTrack(back).equals(image)).toBe(true);
      }),
      { seed, numRuns: 300 },
    );
  });
});

describe('track codec: golden vectors 01 and 02', () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = makeTempDir();
  });
  afterAll(() => dir.cleanup());

  const cases = [
    { image: '01_ckd3390_dasdinit_3cyl.ckd', txt: '01_ckd3390_dasdinit_3cyl.txt', cylinders: 3 },
    { image: '02_ckd3390_dasdload_5cyl.ckd', txt: '02_ckd3390_dasdload_5cyl.txt', cylinders: 5 },
  ];
  for (const c of cases) {
    it(`decodes every track of ${c.image} as its "Record summary" lists it`, () => {
      const bytes = readFileSync(vectorPath(c.image, dir.path));
      const trackCount = c.cylinders * HERCULES_3390.heads;
      expect(bytes.length).toBe(HERCULES_3390.headerBytes + trackCount * SLOT);
      const summary = parseRecordSummary(readFileSync(join(VECTORS_DIR, c.txt), 'latin1'), trackCount, HERCULES_3390.heads);
      for (const want of summary) {
        const slot = bytes.subarray(trackOffset3390(want.trackIndex), trackOffset3390(want.trackIndex) + SLOT);
        const cchh = { cylinder: want.cylinder, head: want.head };
        const source = { path: c.image, trackIndex: want.trackIndex };
        expect(slot.subarray(0, 5).toString('hex'), `HA of track ${want.trackIndex}`).toBe(want.ha);
        const track = decodeTrack(slot, cchh, source);
        const got = [
          { record: 0, keyLength: 0, dataLength: track.r0Data.length },
          ...track.records.map((r) => ({ record: r.record, keyLength: r.key.length, dataLength: r.data.length })),
        ];
        expect(got, `records of track ${want.trackIndex}`).toEqual(want.records);
        expect(trackUsedBytes(slot, cchh, source) - 8, `EOT offset of track ${want.trackIndex}`).toBe(want.eotOffset);
        // Every record id names its own track.
        for (const r of track.records) expect([r.cylinder, r.head]).toEqual([want.cylinder, want.head]);
        // Re-encoding gives the vector's bytes, and the rest of the slot is zero (dasdinit/dasdload).
        const image = encodeTrack(track);
        expect(image.equals(slot.subarray(0, image.length)), `bytes of track ${want.trackIndex}`).toBe(true);
        expect(slot.subarray(image.length).every((b) => b === 0)).toBe(true);
      }
    });
  }
});

describe('track codec: malformed tracks are ImageFormatErrors naming file, track and offset', () => {
  const cchh = { cylinder: 2, head: 3 };
  const source = { path: 'bad.ckd', trackIndex: 33 };
  const good = (): Buffer => {
    const slot = Buffer.alloc(1024);
    encodeTrack({ cchh, r0Data: Buffer.alloc(8), records: [{ ...cchh, record: 1, key: Buffer.alloc(0), data: Buffer.alloc(100, 0xc1) }] }).copy(slot);
    return slot;
  };
  const expectFormatError = (slot: Buffer, offset: number, words: RegExp): void => {
    let caught: unknown;
    try {
      decodeTrack(slot, cchh, source);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ImageFormatError);
    const error = caught as ImageFormatError;
    expect(error.code).toBe('IMAGE_FORMAT');
    expect(error.message).toMatch(/^Cannot read track 33 of bad\.ckd: /);
    expect(error.message).toMatch(words);
    expect(error.details).toMatchObject({ path: 'bad.ckd', track: 33, offset });
    expect(error.message.includes('\n')).toBe(false);
  };

  it('the good track decodes (control)', () => {
    expect(decodeTrack(good(), cchh, source).records).toHaveLength(1);
  });

  it('bad home address: flag byte not 0', () => {
    const slot = good();
    slot[0] = 0x01;
    expectFormatError(slot, 0, /home address is 0100020003, expected CC=2 HH=3/);
  });

  it('bad home address: CCHH of another track', () => {
    const slot = good();
    slot.writeUInt16BE(4, 3);
    expectFormatError(slot, 0, /home address/);
  });

  it('an all-zero slot is only valid at track 0', () => {
    expectFormatError(Buffer.alloc(1024), 0, /home address/);
  });

  it('missing end-of-track marker: records end where the slot ends', () => {
    // HA 5 + R0 16 + R1 (8 + 100) = 129 bytes, and no room for the 8-byte marker.
    const slot = Buffer.from(good().subarray(0, 129));
    expectFormatError(slot, 129, /no end-of-track marker/);
  });

  it('missing end-of-track marker: the marker overwritten, zeros after it', () => {
    const slot = good();
    slot.fill(0, 129);
    // Zero counts walk as 8-byte empty records up to the last one that leaves < 8 bytes: 129 + 8k + 8 > 1016.
    expectFormatError(slot, 1017, /no end-of-track marker/);
  });

  it('a record whose key and data run past the slot', () => {
    const slot = good();
    // R1's count is at 21: give it DL 2000 in a 1024-byte slot.
    slot.writeUInt16BE(2000, 21 + 6);
    expectFormatError(slot, 21, /record R1 \(KL 0, DL 2000\) runs past the end of the slot/);
  });

  it('a first record that is not a standard R0', () => {
    const slot = good();
    slot[5 + 4] = 1; // R0's record number
    expectFormatError(slot, 5, /expected a standard R0/);
  });

  it('a slot too short for a home address', () => {
    expectFormatError(Buffer.alloc(6), 0, /too short/);
  });
});
