/**
 * `<image>.secondary`: the role of a volume that is a mirror's secondary (issue 20), kept beside the
 * image so that whoever opens it — the mirror, another process, the secondary's own `snaptape
 * serve` — knows the rule:
 * - PROTECTED (the mirror is not split): nobody but the mirror writes it;
 * - SPLIT: anyone may write it, and each unit written is recorded here, durably, before the write
 *   lands, so that the rejoin resends it from the primary.
 *
 *   offset 0    header (SECONDARY_ROLE_LAYOUT), 32 bytes, big-endian
 *   offset 32   one byte per unit (track or FBA block): 1 = written while split
 *
 * Decision: one byte per unit, as the mirror's own `.mirror` file, so that recording a write is one
 * small positional write and an fdatasync, done only when a unit is recorded for the first time.
 * The file is opened for each change and closed after it, so a volume that closes leaves no
 * descriptor behind (changes are rare: a state change, or a unit's first write while split).
 */
import { closeSync, existsSync, fdatasyncSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { bytes, decodeFields, defineLayout, encodeFields, num, str, type Layout } from '../base/field-table.js';
import { openRegularFile, readFully, writeFully } from '../base/file-io.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { fsyncDirectory } from '../image/durable-replace.js';

export const SECONDARY_ROLE_MAGIC = 'SNAPSECD';
export const SECONDARY_ROLE_VERSION = 1;
export const SECONDARY_ROLE_STATES = { protected: 1, split: 2 } as const;
export type SecondaryRoleState = keyof typeof SECONDARY_ROLE_STATES;

export const SECONDARY_ROLE_LAYOUT: Layout = defineLayout({
  name: 'secondary-role-header',
  size: 32,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: 'SNAPSECD' },
    { name: 'version', offset: 8, length: 2, kind: 'u16be', description: 'format version, 1' },
    { name: 'state', offset: 10, length: 1, kind: 'u8', description: '1 PROTECTED (only the mirror writes), 2 SPLIT (writes allowed and recorded)' },
    { name: 'unitCount', offset: 12, length: 4, kind: 'u32be', description: 'tracks (CKD) or blocks (FBA) of the volume: bytes in the record' },
    {
      name: 'primary',
      offset: 16,
      length: 8,
      kind: 'bytes',
      description:
        "whose secondary: the tag of the local primary (its .mirror header's), zero when not known (a remote primary's, or a file written before it)",
    },
  ],
});
const RECORD_OFFSET = SECONDARY_ROLE_LAYOUT.size;
const ROLE_FILE = 'the secondary role file';
/** Bytes of the primary's tag (the `primary` field). */
export const SECONDARY_PRIMARY_TAG_BYTES = 8;

export function secondaryRolePath(imagePath: string): string {
  return `${imagePath}.secondary`;
}

export class SecondaryRoleFile {
  // Set once.
  readonly path: string;
  readonly unitCount: number;
  // Main thread only.
  private current: SecondaryRoleState;
  /** The record in memory: 1 for each unit written while split. */
  private readonly written: Uint8Array;
  /** Whose secondary (the `primary` field), kept in every header written. */
  private readonly primaryTag: Buffer;

  private constructor(path: string, state: SecondaryRoleState, written: Uint8Array, primaryTag: Buffer) {
    this.path = path;
    this.current = state;
    this.written = written;
    this.primaryTag = primaryTag;
    this.unitCount = written.length;
  }

  static exists(imagePath: string): boolean {
    return existsSync(secondaryRolePath(imagePath));
  }

  /**
   * Creates (or overwrites) the role file of `imagePath`, with an empty record; `primaryTag`: whose
   * secondary it is (the local primary's tag), zero when not known.
   */
  static create(imagePath: string, unitCount: number, state: SecondaryRoleState, primaryTag?: Buffer): SecondaryRoleFile {
    const path = secondaryRolePath(imagePath);
    // A side file written in place: a link at its name is refused, and the file it names left alone (file-io.ts SideFileOpen).
    const { fd } = openRegularFile(path, ROLE_FILE, true, { noFollow: true, replace: true, mode: 0o644 });
    const tag = Buffer.alloc(SECONDARY_PRIMARY_TAG_BYTES);
    primaryTag?.copy(tag);
    const file = new SecondaryRoleFile(path, state, new Uint8Array(unitCount), tag);
    try {
      writeFully(fd, file.written, RECORD_OFFSET, path, 'the secondary record');
    } finally {
      closeSync(fd);
    }
    file.writeHeader();
    fsyncDirectory(dirname(resolve(path)));
    return file;
  }

  /** Opens the role file of `imagePath`; a file of another volume's size is an ImageFormatError. */
  static open(imagePath: string, unitCount: number): SecondaryRoleFile {
    const path = secondaryRolePath(imagePath);
    // Opened writable, as every change opens it: a link at its name is refused now, not at a write.
    const { fd, sizeBytes: size } = openRegularFile(path, ROLE_FILE, true, { noFollow: true });
    try {
      const head = Buffer.alloc(RECORD_OFFSET);
      if (size >= RECORD_OFFSET) readFully(fd, head, 0, path, 'the secondary role header');
      const header = size >= RECORD_OFFSET ? decodeFields(SECONDARY_ROLE_LAYOUT, head) : undefined;
      const state = (Object.keys(SECONDARY_ROLE_STATES) as SecondaryRoleState[]).find((s) => header && SECONDARY_ROLE_STATES[s] === num(header, 'state'));
      if (
        header === undefined ||
        str(header, 'magic') !== SECONDARY_ROLE_MAGIC ||
        num(header, 'version') !== SECONDARY_ROLE_VERSION ||
        state === undefined ||
        num(header, 'unitCount') !== unitCount ||
        size < RECORD_OFFSET + unitCount
      ) {
        throw new ImageFormatError(`Cannot read secondary role file ${path}: it is not a version ${SECONDARY_ROLE_VERSION} role file of ${unitCount} units`, {
          path,
        });
      }
      const written = new Uint8Array(unitCount);
      readFully(fd, written, RECORD_OFFSET, path, 'the secondary record');
      return new SecondaryRoleFile(path, state, written, Buffer.from(bytes(header, 'primary')));
    } finally {
      closeSync(fd);
    }
  }

  get state(): SecondaryRoleState {
    return this.current;
  }

  /** Whose secondary: the local primary's tag, all zero when not known. */
  get primary(): Buffer {
    return Buffer.from(this.primaryTag);
  }

  /** Changes the state, durably. */
  setState(state: SecondaryRoleState): void {
    this.current = state;
    this.writeHeader();
  }

  /** Records units [first, first+count) as written; durable before it returns. */
  record(firstUnit: number, count: number): void {
    let changed = false;
    for (let u = firstUnit; u < firstUnit + count && u < this.unitCount; u++) {
      if (this.written[u] !== 1) changed = true;
      this.written[u] = 1;
    }
    if (!changed) return;
    const bytes = this.written.subarray(firstUnit, Math.min(this.unitCount, firstUnit + count));
    this.change((fd) => writeFully(fd, bytes, RECORD_OFFSET + firstUnit, this.path, 'the secondary record'));
  }

  /** The units recorded as written, ascending. */
  writtenUnits(): number[] {
    const units: number[] = [];
    for (let u = 0; u < this.unitCount; u++) if (this.written[u] === 1) units.push(u);
    return units;
  }

  /** Forgets the record (its units are the mirror's to resend now), durably. */
  clearRecord(): void {
    this.written.fill(0);
    this.change((fd) => writeFully(fd, this.written, RECORD_OFFSET, this.path, 'the secondary record'));
  }

  /** Deletes the file: the volume is nobody's secondary any more. */
  remove(): void {
    if (existsSync(this.path)) unlinkSync(this.path);
  }

  private writeHeader(): void {
    const head = encodeFields(SECONDARY_ROLE_LAYOUT, {
      magic: SECONDARY_ROLE_MAGIC,
      version: SECONDARY_ROLE_VERSION,
      state: SECONDARY_ROLE_STATES[this.current],
      unitCount: this.unitCount,
      primary: this.primaryTag,
    });
    this.change((fd) => writeFully(fd, head, 0, this.path, 'the secondary role header'));
  }

  /** Opens the file, runs `write`, makes it durable and closes it. */
  private change(write: (fd: number) => void): void {
    const { fd } = openRegularFile(this.path, ROLE_FILE, true, { noFollow: true });
    try {
      write(fd);
      fdatasyncSync(fd);
    } catch (error) {
      throw translateIoError(error, 'write the secondary role file', this.path);
    } finally {
      closeSync(fd);
    }
  }
}
