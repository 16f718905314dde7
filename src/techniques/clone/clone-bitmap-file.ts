/**
 * The clone bitmap `<target>.clone.bitmap` kept durable in place (issue 10, item 4; dm-era's rule):
 * a protection bit that a host write needs is in the file before that write goes ahead. CREATE
 * makes the file (temp file + rename); from then on one descriptor stays open and every change is
 * a `pwrite` of the 32-bit word(s) that change, at the offsets of native-layout/clone-bitmap.md.
 *
 * The file's rule (what a resume may trust): for every unit that takes part, a clear CLONE PB bit
 * in the file means the destination holds that unit's point-in-time data. So the file's CLONE PB
 * and IND columns are always a superset of the tracks still to be copied:
 * - bits are SET in the file before the host write that needs them (`markToCopy`, a precopy's
 *   first write to a copied track) — the in-memory bits follow after the write;
 * - bits are CLEARED in the file only for units already copied: lazily at checkpoints
 *   (`writeColumns`, from the in-memory columns on the owning thread), or eagerly by `markCopied`
 *   before a host write that would make a recopy wrong (after ACTIVATE, a write to the source or to
 *   the destination of a track whose bit the file still holds);
 * - `mirror` holds what the file holds, so a write to a track whose bits are already right costs
 *   one comparison and no system call (the steady state).
 *
 * Durability: a `pwrite` into the page cache survives the death of the process (SIGKILL). For a
 * power loss, `flush` (called when the host flushes either volume) fsyncs the file after the
 * destination; writes since the last flush may be lost as the host expects of unflushed writes.
 */
import { closeSync, fsyncSync } from 'node:fs';
import { openRegularFile, writeFully } from '../../base/file-io.js';
import { assert } from '../../base/assert.js';
import { field } from '../../base/field-table.js';
import { translateIoError } from '../../errors/io-error.js';
import { CLONE_PHASES, type ClonePhase } from './clone-phase.js';
import { CLONE_BITMAP_HEADER_LAYOUT, FILE_COLUMN, PERSISTED_COLUMNS, encodeCloneBitmap, writeAtomically, type PersistedColumn } from './clone-record.js';

const BITS_PER_WORD = 32;
const WORD_BYTES = 4;
const PHASE_OFFSET = field(CLONE_BITMAP_HEADER_LAYOUT, 'phase').offset;

export class CloneBitmapFile {
  // Set once.
  readonly path: string;
  readonly unitCount: number;
  private readonly wordsPerColumn: number;
  // Main thread only: the descriptor, and what the file holds (one Int32Array per persisted column).
  private fd: number;
  private readonly mirror: Int32Array[];
  private phaseIndex: number;
  /** pwrites made by the per-unit marks (for tests and status: the steady state adds none). */
  markWrites = 0;

  private constructor(path: string, fd: number, unitCount: number, mirror: Int32Array[], phase: ClonePhase) {
    this.path = path;
    this.fd = fd;
    this.unitCount = unitCount;
    this.wordsPerColumn = Math.ceil(unitCount / BITS_PER_WORD);
    this.mirror = mirror;
    this.phaseIndex = CLONE_PHASES.indexOf(phase);
    assert(mirror.length === PERSISTED_COLUMNS.length && mirror.every((c) => c.length === this.wordsPerColumn), 'one mirror word per file word');
  }

  /** CREATE: writes the whole file (temp + rename), then keeps it open for updates in place. */
  static create(path: string, state: { unitCount: number; phase: ClonePhase; columns: readonly Int32Array[] }): CloneBitmapFile {
    const { unitCount, phase, columns } = state;
    assert(columns.length === PERSISTED_COLUMNS.length, 'every persisted column is given');
    writeAtomically(path, encodeCloneBitmap(unitCount, phase, columns));
    return CloneBitmapFile.open(path, { unitCount, phase, columns });
  }

  /** Opens an existing version-2 file for updates; `state` is what it holds (already decoded). */
  static open(path: string, state: { unitCount: number; phase: ClonePhase; columns: readonly Int32Array[] }): CloneBitmapFile {
    // Written in place from now on: a link at its name is refused, and the file it names left alone (file-io.ts SideFileOpen).
    const { fd } = openRegularFile(path, 'the clone bitmap', true, { noFollow: true });
    return new CloneBitmapFile(
      path,
      fd,
      state.unitCount,
      state.columns.map((c) => Int32Array.from(c)),
      state.phase,
    );
  }

  private offsetOf(column: number, word: number): number {
    return CLONE_BITMAP_HEADER_LAYOUT.size + (column * this.wordsPerColumn + word) * WORD_BYTES;
  }

  private pwrite(data: Buffer, position: number): void {
    assert(this.fd >= 0, `${this.path} is open`);
    writeFully(this.fd, data, position, this.path, 'the clone bitmap');
  }

  /** The file's bit for a unit, as last written. */
  test(column: PersistedColumn, unit: number): boolean {
    const words = this.mirror[FILE_COLUMN[column]] as Int32Array;
    return ((words[unit >>> 5] as number) & (1 << (unit & 31))) !== 0;
  }

  /** Sets or clears one unit's bit in the file if it differs: one 4-byte pwrite, or none. */
  private put(column: PersistedColumn, unit: number, on: boolean): void {
    if (this.test(column, unit) === on) return;
    const c = FILE_COLUMN[column];
    const words = this.mirror[c] as Int32Array;
    const w = unit >>> 5;
    const bit = 1 << (unit & 31);
    const value = on ? (words[w] as number) | bit : (words[w] as number) & ~bit;
    const data = Buffer.alloc(WORD_BYTES);
    data.writeInt32LE(value, 0);
    this.pwrite(data, this.offsetOf(c, w));
    words[w] = value;
    this.markWrites++;
  }

  /** Before a host write reopens a copied unit (precopy): CLONE PB and IND on, PRECOPY PB off. */
  markToCopy(unit: number): void {
    // CLONE PB and IND first: a death between the writes leaves both PB bits set, which a resume
    // reads as "to copy" (CLONE PB decides).
    this.put('clonePb', unit, true);
    this.put('ind', unit, true);
    this.put('precopyPb', unit, false);
  }

  /** Before a host write after ACTIVATE to a unit that is copied: CLONE PB and IND off. */
  markCopied(unit: number): void {
    this.put('clonePb', unit, false);
    this.put('ind', unit, false);
  }

  /**
   * A checkpoint or phase change: the columns as the owning thread sees them now (every clear bit
   * there is a finished copy), then the phase. Only the columns that differ are written.
   */
  writeColumns(phase: ClonePhase, columns: readonly Int32Array[]): void {
    assert(columns.length === PERSISTED_COLUMNS.length, 'every persisted column is given');
    columns.forEach((words, c) => {
      const held = this.mirror[c] as Int32Array;
      assert(words.length === held.length, 'a column has wordsPerColumn words');
      if (words.every((w, i) => w === held[i])) return;
      const data = Buffer.alloc(words.length * WORD_BYTES);
      words.forEach((w, i) => data.writeInt32LE(w, i * WORD_BYTES));
      this.pwrite(data, this.offsetOf(c, 0));
      held.set(words);
    });
    const phaseIndex = CLONE_PHASES.indexOf(phase);
    if (phaseIndex !== this.phaseIndex) {
      const data = Buffer.alloc(WORD_BYTES);
      data.writeUInt32LE(phaseIndex, 0);
      this.pwrite(data, PHASE_OFFSET);
      this.phaseIndex = phaseIndex;
    }
  }

  /** The host flushed: the bitmap reaches stable storage (the caller synced the destination first). */
  flush(): void {
    if (this.fd < 0) return;
    try {
      fsyncSync(this.fd);
    } catch (error) {
      throw translateIoError(error, 'flush the clone bitmap', this.path);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      closeSync(fd);
    } catch (error) {
      throw translateIoError(error, 'close the clone bitmap', this.path);
    }
  }
}
