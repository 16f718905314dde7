/**
 * `<primary image>.mirror`: the persisted track-status table and the mirrors' configuration
 * (layout in mirror-state-layout.ts). The durability rule that keeps the server from ever claiming
 * a mirror in sync when it is not:
 * - a bit that goes from valid to invalid is written and fdatasync'd before the host write that
 *   caused it is acknowledged (`persistCleared`);
 * - a bit that goes from invalid to valid may be written late (`flush`, periodically and at state
 *   changes): a stale file under-claims, which only costs a track copied twice;
 * - while any mirror is live (writes in flight to a secondary) the header's CLEAN flag is off; a
 *   file found without it after a restart had writes in flight, so every live mirror's bits are
 *   treated as invalid (mirror-session.ts does that).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, openSync, unlinkSync, fstatSync } from 'node:fs';
import { openRegularFile, readAtMost, readFully, writeFully } from '../../base/file-io.js';
import { dirname, resolve } from 'node:path';
import { bytes, decodeFields, encodeFields, num, str } from '../../base/field-table.js';
import { ImageFormatError, UsageError } from '../../errors/snaptape-error.js';
import { translateIoError } from '../../errors/io-error.js';
import { fsyncDirectory } from '../../image/durable-replace.js';
import { linkStateOfCode, LINK_STATE_CODES, type LinkState } from './mirror-link-state.js';
import { MAX_SECONDARIES, MAX_TARGET_BYTES } from './mirror-limits.js';
import {
  MIRROR_BITMAP_OFFSET,
  MIRROR_DESCRIPTOR_BYTES,
  MIRROR_DESCRIPTOR_LAYOUT,
  MIRROR_FILE_MAGIC,
  MIRROR_FILE_VERSION,
  MIRROR_FLAG_CLEAN,
  MIRROR_HEADER_LAYOUT,
  TARGET_KIND_CODES,
  descriptorOffset,
} from './mirror-state-layout.js';
import { TrackStatusTable } from './track-status-table.js';

export type TargetKind = keyof typeof TARGET_KIND_CODES;

export interface StoredMirror {
  readonly kind: TargetKind;
  readonly target: string;
  readonly linkState: LinkState;
  readonly splitCount: number;
}

export interface StoredState {
  readonly clean: boolean;
  /**
   * Whose state this is: `mirrorPrimaryTag` of the primary image it was written for; all zero in
   * a file written before the tag (its owner unknown). A resume compares it with the image the
   * file sits beside (mirror-session.ts), as a clone record's target is (clone-resume.ts).
   */
  readonly primaryTag: Buffer;
  readonly slotBytes: number;
  readonly mirrors: readonly StoredMirror[];
  readonly table: TrackStatusTable;
}

export function mirrorFilePath(primaryPath: string): string {
  return `${primaryPath}.mirror`;
}

/** Bytes of the primary's tag in the header (mirror-state-layout.ts `primary`). */
const PRIMARY_TAG_BYTES = 8;

/** The tag a state file records for its primary: the first 8 bytes of the SHA-256 of its absolute path. */
export function mirrorPrimaryTag(primaryPath: string): Buffer {
  return createHash('sha256').update(resolve(primaryPath)).digest().subarray(0, PRIMARY_TAG_BYTES);
}

/** True for the tag of a file written before tags (all zero): its primary is not known. */
export function isUnknownPrimaryTag(tag: Buffer): boolean {
  return tag.every((b) => b === 0);
}

export class MirrorStateFile {
  // Set once.
  readonly path: string;
  private readonly fd: number;
  // Main thread only.
  private generation = 0;
  private closed = false;
  /** Written in every header: the tag of the primary (zero until known, for a file written before tags). */
  private primaryTag: Buffer = Buffer.alloc(PRIMARY_TAG_BYTES);

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /** Creates a new file (refusing one that exists) and writes it whole. */
  static create(path: string, state: Omit<StoredState, 'clean' | 'primaryTag'> & { readonly primaryTag?: Buffer }): MirrorStateFile {
    if (existsSync(path))
      throw new UsageError(`Cannot create mirror state ${path}: it exists (the volume is mirrored already; remove that mirror first)`, { path });
    let fd: number;
    try {
      // O_EXCL: a new file, never a link's target (a link at the name, dangling too, is EEXIST).
      fd = openSync(path, 'wx+', 0o644);
    } catch (error) {
      throw translateIoError(error, 'create the mirror state file', path);
    }
    const file = new MirrorStateFile(path, fd);
    if (state.primaryTag) file.primaryTag = Buffer.from(state.primaryTag);
    file.writeAll({ ...state, clean: false });
    // Its name too: a mirror must not vanish after a power loss.
    fsyncDirectory(dirname(resolve(path)));
    return file;
  }

  /** Opens and reads an existing file. */
  static open(path: string): { file: MirrorStateFile; state: StoredState } {
    // Written in place from now on: a link at its name is refused, and the file it names left alone (file-io.ts SideFileOpen).
    const { fd } = openRegularFile(path, 'the mirror state file', true, { noFollow: true });
    try {
      const file = new MirrorStateFile(path, fd);
      return { file, state: file.read() };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  private read(): StoredState {
    const sizeBytes = fstatSync(this.fd).size;
    const head = Buffer.alloc(MIRROR_BITMAP_OFFSET);
    if (sizeBytes < MIRROR_BITMAP_OFFSET || readAtMost(this.fd, head, 0, this.path, 'the mirror state header') !== head.length) {
      throw new ImageFormatError(`Cannot read mirror state ${this.path}: it is ${sizeBytes} bytes, shorter than its ${MIRROR_BITMAP_OFFSET}-byte header`, {
        path: this.path,
      });
    }
    const header = decodeFields(MIRROR_HEADER_LAYOUT, head);
    if (str(header, 'magic') !== MIRROR_FILE_MAGIC || num(header, 'version') !== MIRROR_FILE_VERSION) {
      throw new ImageFormatError(`Cannot read mirror state ${this.path}: it is not a version ${MIRROR_FILE_VERSION} ${MIRROR_FILE_MAGIC} file`, {
        path: this.path,
      });
    }
    const count = num(header, 'secondaryCount');
    const trackCount = num(header, 'trackCount');
    if (count < 1 || count > MAX_SECONDARIES || sizeBytes < MIRROR_BITMAP_OFFSET + trackCount) {
      throw new ImageFormatError(`Cannot read mirror state ${this.path}: ${count} secondaries and ${trackCount} tracks do not fit its ${sizeBytes} bytes`, {
        path: this.path,
      });
    }
    this.generation = num(header, 'generation');
    this.primaryTag = Buffer.from(bytes(header, 'primary'));
    const mirrors: StoredMirror[] = [];
    for (let i = 0; i < count; i++) {
      const at = descriptorOffset(i);
      const d = decodeFields(MIRROR_DESCRIPTOR_LAYOUT, head.subarray(at, at + MIRROR_DESCRIPTOR_BYTES));
      const kind = (Object.keys(TARGET_KIND_CODES) as TargetKind[]).find((k) => TARGET_KIND_CODES[k] === num(d, 'kind'));
      const linkState = linkStateOfCode(num(d, 'linkState'));
      if (kind === undefined || linkState === undefined) {
        throw new ImageFormatError(
          `Cannot read mirror state ${this.path}: descriptor of M${i + 2} has kind ${num(d, 'kind')} and state ${num(d, 'linkState')}`,
          { path: this.path, mirror: `M${i + 2}` },
        );
      }
      mirrors.push({ kind, linkState, target: str(d, 'target'), splitCount: num(d, 'splitCount') });
    }
    const bitmap = new Uint8Array(trackCount);
    readFully(this.fd, bitmap, MIRROR_BITMAP_OFFSET, this.path, 'the mirror bitmap');
    return {
      clean: (num(header, 'flags') & MIRROR_FLAG_CLEAN) !== 0,
      primaryTag: Buffer.from(this.primaryTag),
      slotBytes: num(header, 'slotBytes'),
      mirrors,
      table: new TrackStatusTable(bitmap),
    };
  }

  /** Records the primary of a file written before tags (from its next header write on). */
  adoptPrimary(tag: Buffer): void {
    this.primaryTag = Buffer.from(tag);
  }

  private encodeHead(state: Omit<StoredState, 'primaryTag'>): Buffer {
    this.generation = (this.generation + 1) >>> 0;
    const head = Buffer.alloc(MIRROR_BITMAP_OFFSET);
    encodeFields(MIRROR_HEADER_LAYOUT, {
      magic: MIRROR_FILE_MAGIC,
      version: MIRROR_FILE_VERSION,
      secondaryCount: state.mirrors.length,
      flags: state.clean ? MIRROR_FLAG_CLEAN : 0,
      trackCount: state.table.unitCount,
      slotBytes: state.slotBytes,
      generation: this.generation,
      primary: this.primaryTag,
    }).copy(head, 0);
    state.mirrors.forEach((m, i) => {
      if (Buffer.byteLength(m.target, 'latin1') > MAX_TARGET_BYTES || /[^\x20-\xff]/.test(m.target)) {
        throw new UsageError(`Cannot store mirror target ${m.target}: it must be at most ${MAX_TARGET_BYTES} Latin-1 characters`, { target: m.target });
      }
      encodeFields(MIRROR_DESCRIPTOR_LAYOUT, {
        kind: TARGET_KIND_CODES[m.kind],
        linkState: LINK_STATE_CODES[m.linkState],
        splitCount: m.splitCount,
        target: m.target,
      }).copy(head, descriptorOffset(i));
    });
    return head;
  }

  /** Writes header, descriptors and the whole bitmap, then fdatasync. */
  writeAll(state: Omit<StoredState, 'primaryTag'>): void {
    const head = this.encodeHead(state);
    // Bitmap first, header (with its CLEAN flag) last: a header never vouches for older bits.
    writeFully(this.fd, state.table.bytes.subarray(0, state.table.unitCount), MIRROR_BITMAP_OFFSET, this.path, 'the mirror bitmap');
    this.datasync('write the mirror state file');
    writeFully(this.fd, head, 0, this.path, 'the mirror state header');
    this.datasync('write the mirror state file');
  }

  /** Writes the status bytes of units [first, first+count) and makes them durable before returning. */
  persistCleared(table: TrackStatusTable, firstUnit: number, unitCount: number): void {
    writeFully(this.fd, table.bytes.subarray(firstUnit, firstUnit + unitCount), MIRROR_BITMAP_OFFSET + firstUnit, this.path, 'invalid mirror bits');
    this.datasync('persist invalid mirror bits in');
  }

  private datasync(action: string): void {
    try {
      fdatasyncSync(this.fd);
    } catch (error) {
      throw translateIoError(error, action, this.path);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /** Closes and deletes the file (the mirror is removed). */
  remove(): void {
    this.close();
    if (existsSync(this.path)) unlinkSync(this.path);
  }
}
