/**
 * Null tracks (native-layout/ckd-track.md, Hercules `hstructs.h` CKDDASD_NULLTRK_FMT0..2): a CCKD file stores
 * no image for an empty track. An L2 entry with offset 0 stands for a null track whose format is
 * the entry's length (0: HA R0 EOF-record EOT; 1: HA R0 EOT; 2: the Linux CDL track of twelve
 * 4096-byte records); a track with no L2 table at all takes the header's null format.
 *
 * One exception, Hercules' own (cckddasd.c cckd_null_trk, "compatibility check for nullfmt bug and
 * linux"): in a file whose header null format is 2 (`dasdinit -z -linux`), an entry of format 0
 * stands for format 2 too. `dasdinit -linux` writes its null tracks so, and Hercules reads them as
 * Linux tracks; in such a file a track of R0 and an EOF record cannot be a null entry at all.
 */
import { encodeTrack, emptyTrack, numberRecords } from '../ckd/track-codec.js';
import type { Cchh } from '../geometry/cchh.js';

export const NULL_FORMAT = { EOF_RECORD: 0, EMPTY: 1, LINUX: 2 } as const;
export const NULL_FORMAT_MAX = NULL_FORMAT.LINUX;
/** Records and their size on a Linux null track (fmt 2, 3390 only). */
const LINUX_NULL_RECORDS = 12;
const LINUX_NULL_RECORD_BYTES = 4096;

/** The image of a null track of `format` at `cchh` (HA through EOT). */
export function nullTrackImage(cchh: Cchh, format: number): Buffer {
  const empty = emptyTrack(cchh);
  if (format === NULL_FORMAT.EMPTY) return encodeTrack(empty);
  if (format === NULL_FORMAT.LINUX) {
    const blank = { key: Buffer.alloc(0), data: Buffer.alloc(LINUX_NULL_RECORD_BYTES) };
    return encodeTrack({
      ...empty,
      records: numberRecords(
        cchh,
        Array.from({ length: LINUX_NULL_RECORDS }, () => blank),
      ),
    });
  }
  return encodeTrack({ ...empty, records: numberRecords(cchh, [{ key: Buffer.alloc(0), data: Buffer.alloc(0) }]) });
}

/** The format of a null L2 entry of `entryFormat` (its length field) in a file of header null format `headerFormat`. */
export function nullEntryFormat(entryFormat: number, headerFormat: number): number {
  return entryFormat === NULL_FORMAT.EOF_RECORD && headerFormat === NULL_FORMAT.LINUX ? NULL_FORMAT.LINUX : entryFormat;
}

/**
 * The null format an image may be stored as in a file of header null format `headerFormat`, or
 * undefined: it is stored as data (fmt 2 always; fmt 0 where an entry of 0 would read as fmt 2).
 */
export function nullFormatOf(image: Buffer, cchh: Cchh, headerFormat: number): number | undefined {
  for (const format of [NULL_FORMAT.EMPTY, NULL_FORMAT.EOF_RECORD]) {
    if (nullEntryFormat(format, headerFormat) !== format) continue;
    const candidate = nullTrackImage(cchh, format);
    if (image.length === candidate.length && image.equals(candidate)) return format;
  }
  return undefined;
}
