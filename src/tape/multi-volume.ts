/**
 * Multi-volume standard-label tapes (native-layout/multi-volume-tapes.md): a tape too large for one
 * cartridge is spread over several, as IBM writes a data set that reaches the end of a volume:
 *
 *   volume k:   VOL1 … HDR1 HDR2 UHL* TM data… TM EOV1 EOV2 TM TM
 *   volume k+1: VOL1 HDR1 HDR2 UHL* TM data… (the rest, or up to the next EOV)
 *
 * The HDR1 of each section carries its volume sequence number (1, 2, …), its HDR2 the data set
 * position '1' (a continuation); EOV1 and EOF1 count the blocks of the section on that volume; the
 * data set serial stays the first volume's volser. User trailer labels (the backup's digests)
 * follow EOF only, on the last section.
 *
 * `spanTape` splits a finished single tape onto volumes; `joinTapeVolumes` puts them back into the
 * one tape they came from, byte for byte, which is how a spanned backup is read.
 */
import { closeSync, ftruncateSync } from 'node:fs';
import { openRegularFile } from '../base/file-io.js';
import { assert } from '../base/assert.js';
import { NoSpaceError, TapeFormatError } from '../errors/snaptape-error.js';
import { AWS_HEADER_BYTES } from './aws-block-header.js';
import { LABEL_BYTES } from './label-layouts.js';
import {
  decodeStandardLabel,
  encodeDataSetLabel1,
  encodeDataSetLabel2,
  encodeVolumeLabel,
  labelIdOf,
  type DataSetLabel1,
  type DataSetLabel2,
  type StandardLabel,
} from './standard-labels.js';
import { lockTape, mustCreate, requireCheckedTape } from './tape-lock.js';
import type { ImageLock } from '../image/image-lock.js';
import { translateIoError } from '../errors/io-error.js';
import type { TapeIndex } from './tape-index.js';
import { TapeReader } from './tape-reader.js';
import { TapeStreamWriter } from './tape-stream-writer.js';

/** What follows the last data block of a section on a full volume: TM EOV1 EOV2 TM TM. */
export const END_OF_VOLUME_BYTES = 3 * AWS_HEADER_BYTES + 2 * (AWS_HEADER_BYTES + LABEL_BYTES);

export interface TapeVolumeTarget {
  readonly path: string;
  readonly volser: string;
}

export interface SpanOptions {
  /** Bytes one volume holds; a volume is ended before a data block that would not leave room for its EOV labels. */
  readonly capacityBytes: number;
  /** The volume of sequence number `sequence` (1-based): called when the previous one is full. */
  readonly nextVolume: (sequence: number) => TapeVolumeTarget;
  /** Called when a volume is complete (closed and synced). */
  readonly volumeDone?: (sequence: number, target: TapeVolumeTarget) => void;
}

export interface SpannedVolume extends TapeVolumeTarget {
  readonly sizeBytes: number;
  readonly dataBlocks: number;
}

/** One labelled file of the source, as the sequential reader meets it. */
interface FileHeaders {
  readonly header1: DataSetLabel1;
  readonly header2: DataSetLabel2;
  readonly userHeaders: readonly Buffer[];
}

class LabelReader {
  constructor(private readonly reader: TapeReader) {}

  next(): { kind: 'block'; data: Buffer; blockNumber: number; offsetBytes: number } | { kind: 'tapemark' } | { kind: 'end' } {
    const read = this.reader.read();
    if (read.kind === 'block') return { kind: 'block', data: read.data, blockNumber: read.entry.blockNumber, offsetBytes: read.entry.offsetBytes };
    return read.kind === 'tapemark' ? { kind: 'tapemark' } : { kind: 'end' };
  }

  /** The next block, which must be a label among `ids`. */
  label(ids: readonly string[]): { label: StandardLabel; data: Buffer } | undefined {
    const entry = this.next();
    if (entry.kind !== 'block') return undefined;
    const id = labelIdOf(entry.data);
    if (id === undefined || !ids.some((want) => id.startsWith(want)))
      throw new TapeFormatError(
        `Cannot read tape ${this.reader.path}: block ${entry.blockNumber} at byte offset ${entry.offsetBytes} is not one of ${ids.join(', ')}`,
        {
          path: this.reader.path,
          blockNumber: entry.blockNumber,
        },
      );
    return {
      label: decodeStandardLabel(entry.data, { path: this.reader.path, blockNumber: entry.blockNumber, offsetBytes: entry.offsetBytes }),
      data: entry.data,
    };
  }

  /** HDR1 HDR2 UHL* TM, or undefined at the end of the volume (a second tapemark). */
  headers(): FileHeaders | undefined {
    const first = this.next();
    if (first.kind !== 'block') return undefined;
    const header1 = decodeStandardLabel(first.data, { path: this.reader.path, blockNumber: first.blockNumber, offsetBytes: first.offsetBytes });
    if (header1.labelId !== 'HDR1') throw this.unexpected('HDR1', first.blockNumber);
    const header2 = this.label(['HDR2'])?.label;
    if (header2?.labelId !== 'HDR2') throw this.unexpected('HDR2', first.blockNumber + 1);
    const userHeaders: Buffer[] = [];
    for (;;) {
      const entry = this.next();
      if (entry.kind === 'tapemark') break;
      if (entry.kind === 'end') throw this.unexpected('a tapemark after the header labels', first.blockNumber);
      userHeaders.push(entry.data);
    }
    return { header1, header2, userHeaders };
  }

  unexpected(what: string, blockNumber: number): TapeFormatError {
    return new TapeFormatError(`Cannot read tape ${this.reader.path}: expected ${what} at block ${blockNumber}`, { path: this.reader.path, blockNumber });
  }
}

/** The labels of one section: sequence `section` of a data set, `blocks` of its blocks on this volume. */
function sectionHeader1(label: DataSetLabel1, labelId: DataSetLabel1['labelId'], section: number, blocks: number): Buffer {
  return encodeDataSetLabel1({ ...label, labelId, volumeSequence: section, blockCount: blocks });
}

function sectionHeader2(label: DataSetLabel2, labelId: DataSetLabel2['labelId'], section: number): Buffer {
  return encodeDataSetLabel2({ ...label, labelId, dataSetPosition: section === 1 ? '0' : '1' });
}

/** One output volume, written sequentially under its tape lock. */
class VolumeWriter {
  dataBlocks = 0;
  private readonly fd: number;
  readonly writer: TapeStreamWriter;

  private constructor(
    readonly target: TapeVolumeTarget,
    fd: number,
  ) {
    this.fd = fd;
    this.writer = new TapeStreamWriter(fd, target.path, { offsetBytes: 0, previousChunkBytes: 0 });
  }

  static create(target: TapeVolumeTarget, owner: string, lock: ImageLock): VolumeWriter {
    // A cartridge of a library's folder, which others may write: a link at its name is refused, and
    // the file it names left alone (file-io.ts SideFileOpen). Only the file the volume's lock checked
    // is written (a volume that was not there then is made new), emptied once it is known to be that
    // file: not a file renamed over the name since (tape-lock.ts requireCheckedTape).
    const { fd } = openRegularFile(target.path, 'the tape volume', true, { noFollow: true, ...(mustCreate(lock) ? { exclusive: true } : {}) });
    try {
      requireCheckedTape(lock, fd, target.path);
      ftruncateSync(fd, 0);
    } catch (error) {
      closeSync(fd);
      throw translateIoError(error, 'empty the tape volume', target.path);
    }
    const volume = new VolumeWriter(target, fd);
    volume.writer.writeBlock(encodeVolumeLabel({ volser: target.volser, accessibility: '', owner }));
    return volume;
  }

  headers(file: FileHeaders, section: number): void {
    this.writer.writeBlock(sectionHeader1(file.header1, 'HDR1', section, 0));
    this.writer.writeBlock(sectionHeader2(file.header2, 'HDR2', section));
    file.userHeaders.forEach((label) => this.writer.writeBlock(label));
    this.writer.writeTapemark();
  }

  close(): SpannedVolume {
    this.writer.flush();
    closeSync(this.fd);
    return { ...this.target, sizeBytes: this.writer.offsetBytes, dataBlocks: this.dataBlocks };
  }
}

/**
 * Copies the standard-labelled tape at `sourcePath` onto as many volumes as it needs, each holding
 * at most `capacityBytes`. Each volume is written under its tape lock (so a tape library's rules
 * apply to it). Returns the volumes in order.
 */
export function spanTape(sourcePath: string, options: SpanOptions): SpannedVolume[] {
  const reader = TapeReader.open(sourcePath);
  const labels = new LabelReader(reader);
  const done: SpannedVolume[] = [];
  try {
    const volume1 = labels.label(['VOL1']);
    assert(volume1 !== undefined && volume1.label.labelId === 'VOL1', 'a labelled tape starts with VOL1');
    const owner = volume1.label.owner;
    let sequence = 1;
    let lock = acquire(options.nextVolume(sequence));
    let out = VolumeWriter.create(lock.target, owner, lock.lock);
    const finishVolume = (): void => {
      done.push(out.close());
      lock.release();
      options.volumeDone?.(sequence, out.target);
    };
    try {
      for (;;) {
        const file = labels.headers();
        if (file === undefined) break;
        let section = 1;
        let sectionBlocks = 0;
        out.headers(file, section);
        for (;;) {
          const entry = labels.next();
          if (entry.kind === 'tapemark') break;
          if (entry.kind === 'end') throw labels.unexpected('a tapemark after the data', 0);
          const fits = (): boolean => out.writer.offsetBytes + AWS_HEADER_BYTES + entry.data.length + END_OF_VOLUME_BYTES <= options.capacityBytes;
          if (!fits() && out.dataBlocks > 0) {
            out.writer.writeTapemark();
            out.writer.writeBlock(sectionHeader1(file.header1, 'EOV1', section, sectionBlocks));
            out.writer.writeBlock(sectionHeader2(file.header2, 'EOV2', section));
            out.writer.writeTapemark();
            out.writer.writeTapemark();
            finishVolume();
            sequence += 1;
            section += 1;
            sectionBlocks = 0;
            lock = acquire(options.nextVolume(sequence));
            out = VolumeWriter.create(lock.target, owner, lock.lock);
            out.headers(file, section);
          }
          // A volume that holds no data block yet cannot be helped by another one.
          if (!fits())
            throw new NoSpaceError(
              `Cannot span tape ${sourcePath}: a volume of ${options.capacityBytes} bytes cannot hold its labels and the ${entry.data.length}-byte block ${entry.blockNumber}`,
              { path: sourcePath, capacityBytes: options.capacityBytes },
            );
          out.writer.writeBlock(entry.data);
          out.dataBlocks += 1;
          sectionBlocks += 1;
        }
        out.writer.writeTapemark();
        const trailer1 = labels.label(['EOF1']);
        const trailer2 = labels.label(['EOF2']);
        assert(trailer1?.label.labelId === 'EOF1' && trailer2?.label.labelId === 'EOF2', 'a file ends with EOF1 EOF2');
        out.writer.writeBlock(sectionHeader1(trailer1.label, 'EOF1', section, sectionBlocks));
        out.writer.writeBlock(sectionHeader2(trailer2.label, 'EOF2', section));
        for (;;) {
          const entry = labels.next();
          if (entry.kind !== 'block') break;
          out.writer.writeBlock(entry.data);
        }
        out.writer.writeTapemark();
      }
      out.writer.writeTapemark();
      finishVolume();
    } catch (error) {
      lock.release();
      throw error;
    }
  } finally {
    reader.close();
  }
  return done;
}

function acquire(target: TapeVolumeTarget): { readonly target: TapeVolumeTarget; readonly lock: ImageLock; release(): void } {
  const lock = lockTape(target.path);
  let released = false;
  return {
    target,
    lock,
    release: () => {
      if (released) return;
      released = true;
      lock.release();
    },
  };
}

/**
 * Writes the one tape that the volumes at `volumePaths` (in order) were spanned from into
 * `outPath`: continuation headers are dropped, the sections' blocks follow each other, and HDR1,
 * HDR2, EOF1 and EOF2 get back their single-volume values (volume sequence 1, position '0', the
 * data set's whole block count). Throws TapeFormatError when a volume does not continue the one
 * before it (a different data set, or volumes out of order). `indexes[v]`, when given, is volume v's
 * index made apart from it (a vaulted cartridge fetched in part: TapeReader.openIndexed).
 * `outPath` is written as a file of its own (created, or emptied first): a symbolic or hard link at
 * its name is an IoError naming it, the file it names left alone.
 */
export function joinTapeVolumes(
  volumePaths: readonly string[],
  outPath: string,
  indexes: readonly (TapeIndex | undefined)[] = [],
): { readonly sizeBytes: number } {
  assert(volumePaths.length >= 1, 'a multi-volume tape has at least one volume');
  // A staging file in a library's folder, which others may write: a link at its name is refused, and
  // the file it names left alone (file-io.ts SideFileOpen); a file of its own is emptied, then written.
  const { fd } = openRegularFile(outPath, 'the joined tape', true, { noFollow: true, replace: true });
  try {
    // The file is new: a block of zeros (one a partly fetched cartridge did not fetch) stays a hole.
    const writer = new TapeStreamWriter(fd, outPath, { offsetBytes: 0, previousChunkBytes: 0 }, { zeroBlocksAsHoles: true });
    let continued: { readonly file: FileHeaders; blocks: number; readonly section: number } | undefined;
    volumePaths.forEach((path, v) => {
      const index = indexes[v];
      const reader = index === undefined ? TapeReader.open(path) : TapeReader.openIndexed(path, index);
      const labels = new LabelReader(reader);
      try {
        const volume1 = labels.label(['VOL1']);
        assert(volume1 !== undefined, 'a labelled tape starts with VOL1');
        if (v === 0) writer.writeBlock(volume1.data);
        for (;;) {
          const file = labels.headers();
          if (file === undefined) break;
          let state = continued;
          if (state !== undefined) {
            if (file.header1.fileSequence !== state.file.header1.fileSequence || file.header1.volumeSequence !== state.section + 1)
              throw new TapeFormatError(
                `Cannot join tape volumes: ${path} (volume ${v + 1}) starts with file ${file.header1.fileSequence} section ${file.header1.volumeSequence}, expected file ${state.file.header1.fileSequence} section ${state.section + 1}`,
                { path },
              );
            state = { ...state, section: file.header1.volumeSequence };
          } else {
            if (file.header1.volumeSequence !== 1)
              throw new TapeFormatError(
                `Cannot join tape volumes: ${path} (volume ${v + 1}) starts with section ${file.header1.volumeSequence} of file ${file.header1.fileSequence}, without the volumes before it`,
                { path },
              );
            writer.writeBlock(sectionHeader1(file.header1, 'HDR1', 1, 0));
            writer.writeBlock(sectionHeader2(file.header2, 'HDR2', 1));
            file.userHeaders.forEach((label) => writer.writeBlock(label));
            writer.writeTapemark();
            state = { file, blocks: 0, section: file.header1.volumeSequence };
          }
          continued = undefined;
          for (;;) {
            const entry = labels.next();
            if (entry.kind === 'tapemark') break;
            if (entry.kind === 'end') throw labels.unexpected('a tapemark after the data', 0);
            writer.writeBlock(entry.data);
            state.blocks += 1;
          }
          const trailer1 = labels.label(['EOF1', 'EOV1']);
          const trailer2 = labels.label(['EOF2', 'EOV2']);
          assert(trailer1?.label.labelId.endsWith('1') === true && trailer2 !== undefined, 'a section ends with trailer labels');
          if (trailer1.label.labelId === 'EOV1') {
            for (let entry = labels.next(); entry.kind === 'block'; entry = labels.next());
            continued = state;
            break;
          }
          writer.writeTapemark();
          writer.writeBlock(sectionHeader1(trailer1.label as DataSetLabel1, 'EOF1', 1, state.blocks));
          writer.writeBlock(sectionHeader2(trailer2.label as DataSetLabel2, 'EOF2', 1));
          for (;;) {
            const entry = labels.next();
            if (entry.kind !== 'block') break;
            writer.writeBlock(entry.data);
          }
          writer.writeTapemark();
        }
      } finally {
        reader.close();
      }
    });
    if (continued !== undefined)
      throw new TapeFormatError(`Cannot join tape volumes: the last volume ${volumePaths.at(-1) ?? ''} ends with EOV, so a volume is missing`, {
        path: volumePaths.at(-1) ?? '',
      });
    writer.writeTapemark();
    writer.flush();
    return { sizeBytes: writer.offsetBytes };
  } finally {
    closeSync(fd);
  }
}
