/**
 * Helpers for the DASD volume tests: file hashes, Hercules `dasdls -info -hdr` output parsed into
 * fields, the "Record summary" of a vector's .txt parsed into per-track record lists, and DSCB
 * offsets inside a Hercules CKD image computed from first principles (not from src/).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { VolumeListing } from '../../src/api/volume-api.js';
import { runTool } from './external-tools.js';

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** One row of `dasdls -info -hdr`. */
export interface DasdlsRow {
  readonly name: string;
  readonly credt: string;
  readonly org: string;
  readonly recfm: string;
  readonly lrecl: number;
  readonly blksize: number;
  readonly key: number;
  readonly tracks: number;
  readonly percentUsed: number;
  readonly extents: number;
  readonly secondaryUnit: string;
  readonly secondary: number;
}

export interface DasdlsListing {
  readonly volser: string | null;
  readonly rows: readonly DasdlsRow[];
  /** stderr lines that are not the program banner (e.g. "F4DSCB record not found"). */
  readonly problems: readonly string[];
}

/**
 * Runs `dasdls -info -hdr` (Hercules 3.13) and parses its fixed columns:
 * `Dsname(44) CREDT ORG RECFM LRECL BLKSZ Key  Trks%Use#Ext 2ndry_alloc`.
 * LRECL is blank when 0; %Use can be "-0" (dasdls prints `%3.0f` of a slightly negative value).
 */
export function dasdlsInfo(path: string, cwd?: string): DasdlsListing {
  const result = runTool('dasdls', ['-info', '-hdr', path], { cwd });
  const problems = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('Hercules DASD list') && !l.startsWith('(c)Copyright'));
  let volser: string | null = null;
  const rows: DasdlsRow[] = [];
  for (const line of result.stdout.split('\n')) {
    const head = /: VOLSER=(\S+)\s*$/.exec(line);
    if (head) {
      volser = head[1] ?? null;
      continue;
    }
    if (line.startsWith('Dsname') || line.trim() === '') continue;
    // Fixed columns (dasdls.c: "%-44s", " %2.2d%3.3d", " %s%s", " %-5s", " %5d", " %5d", " %3d", " %5d", " %3.0f", " %3d", then the secondary allocation).
    const col = (from: number, to: number): string => line.slice(from, to).trim();
    const secondary = line.slice(90).trim().split(/\s+/);
    const numeric = (text: string, what: string): number => {
      if (!/^-?\d+$/.test(text)) throw new Error(`cannot parse ${what} "${text}" in dasdls line: ${JSON.stringify(line)}`);
      // "-0" is zero: avoid Object.is(-0, 0) surprises in comparisons.
      return Number(text) + 0;
    };
    rows.push({
      name: col(0, 44),
      credt: col(44, 50),
      org: col(50, 54),
      recfm: col(54, 60),
      lrecl: col(60, 66) === '' ? 0 : numeric(col(60, 66), 'LRECL'),
      blksize: numeric(col(66, 72), 'BLKSZ'),
      key: numeric(col(72, 76), 'Key'),
      tracks: numeric(col(76, 82), 'Trks'),
      percentUsed: numeric(col(82, 86), '%Use'),
      extents: numeric(col(86, 90), '#Ext'),
      secondaryUnit: secondary[0] ?? '',
      secondary: numeric(secondary[1] ?? '', '2ndry_alloc'),
    });
  }
  return { volser, rows, problems };
}

/** Our listing of one data set (`ls --json`) in dasdls's terms. */
export function asDasdlsRow(d: VolumeListing['datasets'][number]): Omit<DasdlsRow, 'name'> {
  return {
    credt: d.created,
    org: d.dsorg,
    recfm: d.recfm,
    lrecl: d.lrecl,
    blksize: d.blksize,
    key: d.keyLength,
    tracks: d.tracks,
    percentUsed: d.percentUsed + 0,
    extents: d.extents.length,
    secondaryUnit: d.secondary.unit,
    secondary: d.secondary.quantity,
  };
}

/** A record as the vectors' .txt files list it. */
export interface SummaryRecord {
  readonly record: number;
  readonly keyLength: number;
  readonly dataLength: number;
}

export interface TrackSummary {
  readonly trackIndex: number;
  readonly cylinder: number;
  readonly head: number;
  readonly ha: string;
  readonly records: readonly SummaryRecord[];
  /** Offset of the end-of-track marker within the track image. */
  readonly eotOffset: number;
}

/**
 * Parses the "Record summary of every track" section of a vector's .txt: explicit tracks, plus
 * "N other tracks are empty (..., EOT at +21)" for the rest of a volume of `trackCount` tracks.
 */
export function parseRecordSummary(txt: string, trackCount: number, heads: number): TrackSummary[] {
  const start = txt.indexOf('Record summary of every track');
  if (start < 0) throw new Error('no record summary in the vector text');
  const lines = txt.slice(start).split('\n').slice(1);
  const explicit = new Map<number, TrackSummary>();
  let emptyCount = -1;
  let emptyEot = -1;
  for (const line of lines) {
    const t = /^\s*track\s+(\d+) \(cyl (\d+) head\s+(\d+)\) HA=([0-9a-f]{10}): (.*); EOT at \+(\d+)\s*$/.exec(line);
    if (t) {
      const records: SummaryRecord[] = [];
      for (const part of (t[5] as string).split(', ')) {
        const r = /^R(\d+)(?:-R(\d+))? kl=(\d+) dl=(\d+)$/.exec(part.trim());
        if (!r) throw new Error(`cannot parse record summary part ${JSON.stringify(part)}`);
        const first = Number(r[1]);
        const last = r[2] === undefined ? first : Number(r[2]);
        for (let n = first; n <= last; n++) records.push({ record: n, keyLength: Number(r[3]), dataLength: Number(r[4]) });
      }
      const trackIndex = Number(t[1]);
      explicit.set(trackIndex, { trackIndex, cylinder: Number(t[2]), head: Number(t[3]), ha: t[4] as string, records, eotOffset: Number(t[6]) });
      continue;
    }
    const e = /^\s*(\d+) other tracks are empty .*EOT at \+(\d+)\)/.exec(line);
    if (e) {
      emptyCount = Number(e[1]);
      emptyEot = Number(e[2]);
      break;
    }
  }
  if (emptyCount < 0) throw new Error('no "other tracks are empty" line in the record summary');
  if (explicit.size + emptyCount !== trackCount) throw new Error(`summary covers ${explicit.size + emptyCount} tracks, expected ${trackCount}`);
  const out: TrackSummary[] = [];
  for (let t = 0; t < trackCount; t++) {
    const cylinder = Math.floor(t / heads);
    const head = t % heads;
    const ha = `00${cylinder.toString(16).padStart(4, '0')}${head.toString(16).padStart(4, '0')}`;
    out.push(explicit.get(t) ?? { trackIndex: t, cylinder, head, ha, records: [{ record: 0, keyLength: 0, dataLength: 8 }], eotOffset: emptyEot });
  }
  return out;
}

/** 3390 constants used by the tests to find bytes in an image without going through src/. */
export const HERCULES_3390 = { headerBytes: 512, heads: 15, trackSlotBytes: 56832 } as const;

/** Byte offset of track t's slot in a single-file 3390 image. */
export function trackOffset3390(trackIndex: number): number {
  return HERCULES_3390.headerBytes + trackIndex * HERCULES_3390.trackSlotBytes;
}

/**
 * Every track image of an uncompressed Hercules CKD image, from the home address through the
 * end-of-track marker (ckd-track.md; geometry from the device header, not from src/). Bytes past
 * the marker are no part of the track: dasdcopy leaves whatever its buffer held there.
 */
export function trackImagesThroughEot(path: string): Buffer[] {
  const bytes = readFileSync(path);
  const slot = bytes.readUInt32LE(12);
  const tracks: Buffer[] = [];
  for (let at = 512; at + slot <= bytes.length; at += slot) {
    const track = bytes.subarray(at, at + slot);
    let pos = 5;
    while (pos + 8 <= slot && !track.subarray(pos, pos + 8).equals(EOT_MARKER)) pos += 8 + (track[pos + 5] as number) + track.readUInt16BE(pos + 6);
    tracks.push(track.subarray(0, Math.min(slot, pos + 8)));
  }
  return tracks;
}

const EOT_MARKER = Buffer.alloc(8, 0xff);
