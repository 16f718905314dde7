/**
 * `snaptape check` for images (Hercules cckdcdsk, cckdutil.c cckd_chkdsk): for a CCKD file, the
 * structure (analyseCckd: headers, L1/L2 tables, overlaps, space statistics, free chain) and every
 * track image (header CCHH, decompression, records through EOT ending exactly at the stored
 * length, as cckdcdsk level 3); for an uncompressed image, every track slot decodes.
 *
 * Repair does only what cannot lose data: with the tables sound, it rewrites the free chain and the
 * space statistics from the gaps the tables leave, and clears the opened bit. Table damage (a space
 * out of bounds, two spaces overlapping) and bad track images are reported and left alone: which
 * copy is right is not knowable, and Hercules' own recovery guesses by scanning free space.
 */
import { PhaseReporter, type OnPhaseProgress } from '../base/phase-progress.js';
import { closeSync, fsyncSync, ftruncateSync, openSync } from 'node:fs';
import { readAtMost, writeFully } from '../base/file-io.js';
import { encodeFields } from '../base/field-table.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { trackUsedBytes } from '../ckd/track-codec.js';
import { cchhOf } from '../geometry/cchh.js';
import { analyseCckd, type CckdAnalysis, type CckdProblem } from './cckd-analysis.js';
import { CckdFile } from './cckd-file.js';
import { CCKD_DEVID_BASE, CCKD_DEVID_SHADOW, encodeCckdHeader } from './cckd-header.js';
import { CCKD_FREE_BLOCK_LAYOUT, CCKD_HEADER_OFFSET, CCKD_LAYOUTS_BE, CCKD_OPTION } from './cckd-layouts.js';
import { FREE_BLOCK_MIN_BYTES } from './cckd-space.js';
import { openImage } from './open-image.js';

export interface CheckReport {
  readonly path: string;
  readonly format: 'ckd' | 'cckd';
  readonly tracks: number;
  readonly problems: readonly CckdProblem[];
  /** What --repair fixed (empty without --repair). */
  readonly repaired: readonly string[];
  /** Problems left, because fixing them is not safe. */
  readonly unrepairable: number;
}

function withFd<T>(path: string, flags: string, body: (fd: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (error) {
    throw translateIoError(error, `open ${path}`, path);
  }
  try {
    return body(fd);
  } finally {
    closeSync(fd);
  }
}

function devidOf(path: string): string {
  return withFd(path, 'r', (fd) => {
    const head = Buffer.alloc(8);
    const n = readAtMost(fd, head, 0, path, 'the device header');
    return head.subarray(0, n).toString('latin1');
  });
}

/** Checks every track image of a CCKD file (the analysis found the tables sound). */
function trackProblems(path: string, analysis: CckdAnalysis, progress: PhaseReporter): CckdProblem[] {
  const problems: CckdProblem[] = [];
  const file = CckdFile.open(path, { readOnly: true });
  progress.begin('check', analysis.geometry.trackCount, 'tracks');
  try {
    for (let t = 0; t < analysis.geometry.trackCount; t++) {
      progress.advance();
      const where = file.lookup(t);
      if (where.kind !== 'image') continue;
      try {
        const image = file.readTrack(t) as Buffer;
        const used = trackUsedBytes(image, cchhOf(analysis.geometry, t), { path, trackIndex: t });
        if (used !== image.length)
          problems.push({
            kind: 'track',
            message: `track ${t}: the image at offset ${where.offset} has ${image.length - used} bytes after its end-of-track marker`,
            offset: where.offset,
            track: t,
          });
      } catch (error) {
        if (!(error instanceof ImageFormatError)) throw error;
        problems.push({ kind: 'track', message: error.message, offset: where.offset, track: t });
      }
    }
  } finally {
    file.close();
  }
  return problems;
}

/** Rewrites the free chain and the header's statistics from the gaps (the tables are sound). */
function rebuildFreeSpace(path: string, analysis: CckdAnalysis): string[] {
  const gaps = analysis.gaps;
  const freeLayout = analysis.bigEndian ? CCKD_LAYOUTS_BE.freeBlock : CCKD_FREE_BLOCK_LAYOUT;
  const freeBytes = gaps.reduce((n, g) => n + g.length, 0);
  const header = {
    ...analysis.header,
    options: analysis.header.options & ~(CCKD_OPTION.OPENED | CCKD_OPTION.SPACE_ERRORS),
    fileBytes: analysis.fileBytes,
    usedBytes: analysis.fileBytes - freeBytes - analysis.imbeddedBytes,
    freeOffset: gaps[0]?.offset ?? 0,
    freeTotalBytes: freeBytes + analysis.imbeddedBytes,
    freeLargestBytes: gaps.reduce((n, g) => Math.max(n, g.length), 0),
    freeCount: gaps.length,
    freeImbeddedBytes: analysis.imbeddedBytes,
  };
  withFd(path, 'r+', (fd) => {
    const put = (bytes: Buffer, at: number): void => writeFully(fd, bytes, at, path, 'the free space chain');
    gaps.forEach((g, i) => put(encodeFields(freeLayout, { nextOffset: gaps[i + 1]?.offset ?? 0, lengthBytes: g.length }), g.offset));
    put(encodeCckdHeader(header), CCKD_HEADER_OFFSET);
    // A FREE_BLK array past the data is replaced by the chain: cut it off.
    ftruncateSync(fd, analysis.fileBytes);
    fsyncSync(fd);
  });
  return [`rebuilt the free chain (${gaps.length} blocks, ${freeBytes} bytes) and the space statistics from the tables; cleared the opened bit`];
}

function checkCckd(path: string, repair: boolean, progress: PhaseReporter): CheckReport {
  const analysis = withFd(path, 'r', (fd) => analyseCckd(path, fd));
  const tableSound = analysis.problems.every((p) => p.kind !== 'table');
  const problems = [...analysis.problems, ...(tableSound ? trackProblems(path, analysis, progress) : [])];
  const spaceProblems = problems.filter((p) => p.kind === 'free-space' || p.kind === 'statistics');
  const fixable = tableSound && spaceProblems.length > 0 && analysis.gaps.every((g) => g.length >= FREE_BLOCK_MIN_BYTES);
  const repaired = repair && fixable ? rebuildFreeSpace(path, analysis) : [];
  const left = problems.filter((p) => !(repaired.length > 0 && (p.kind === 'free-space' || p.kind === 'statistics')));
  return { path, format: 'cckd', tracks: analysis.geometry.trackCount, problems, repaired, unrepairable: left.length };
}

function checkCkd(path: string, progress: PhaseReporter): CheckReport {
  const image = openImage(path, { readOnly: true });
  const problems: CckdProblem[] = [];
  try {
    const g = image.geometry;
    if (g.kind === 'ckd') {
      progress.begin('check', g.trackCount, 'tracks');
      for (let t = 0; t < g.trackCount; t++) {
        progress.advance();
        try {
          trackUsedBytes(image.readUnit(t, image.slotBytes), cchhOf(g, t), { path, trackIndex: t });
        } catch (error) {
          if (!(error instanceof ImageFormatError)) throw error;
          problems.push({ kind: 'track', message: error.message, offset: 0, track: t });
        }
      }
    }
    return { path, format: 'ckd', tracks: g.kind === 'ckd' ? g.trackCount : 0, problems, repaired: [], unrepairable: problems.length };
  } finally {
    image.close();
  }
}

/** Checks an image (CCKD base or shadow, or uncompressed CKD); `repair` fixes what is safe; `onProgress` is told the tracks checked. */
export function checkImage(path: string, options: { repair?: boolean; onProgress?: OnPhaseProgress } = {}): CheckReport {
  const devid = devidOf(path);
  const progress = new PhaseReporter(options.onProgress);
  if (devid === CCKD_DEVID_BASE || devid === CCKD_DEVID_SHADOW) return checkCckd(path, options.repair ?? false, progress);
  return checkCkd(path, progress);
}
