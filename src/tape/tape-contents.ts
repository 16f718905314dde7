/**
 * What is on a tape: its volume label, its data sets with their labels and data blocks, the
 * physical files between tapemarks (what `hetmap` lists), and where a new data set would be
 * appended. A tape whose first block is a VOL1 label is standard labelled (SL) and its labels are
 * walked through the state table of label-sequence.ts; any other tape is unlabelled (NL) and each
 * physical file before the closing tapemark pair is one data set.
 *
 * Invariants: SL label fields and sequence are checked (TapeLabelError with block number and byte
 * offset); EOF1/EOV1 block counts equal the data blocks counted; HDR1 and EOF1 name the same data set.
 */
import { TapeLabelError } from '../errors/snaptape-error.js';
import { DATA_STATES, nextLabelState, type LabelEvent, type LabelState } from './label-sequence.js';
import {
  decodeStandardLabel,
  labelIdOf,
  type DataSetLabel1,
  type DataSetLabel2,
  type LabelLocation,
  type UserLabel,
  type VolumeLabel,
} from './standard-labels.js';
import type { TapeIndexEntry } from './tape-index.js';
import type { TapeReader } from './tape-reader.js';

export interface TapeDataSet {
  /** HDR1 file sequence number on SL tapes; the physical file number on NL tapes. */
  readonly fileSequence: number;
  readonly dsid: string;
  readonly header1: DataSetLabel1 | undefined;
  readonly header2: DataSetLabel2 | undefined;
  readonly trailer1: DataSetLabel1 | undefined;
  readonly trailer2: DataSetLabel2 | undefined;
  readonly userHeaderLabels: readonly UserLabel[];
  readonly userTrailerLabels: readonly UserLabel[];
  /** Physical file (1-based) that holds the data blocks. */
  readonly dataFileNumber: number;
  readonly firstDataBlockNumber: number;
  readonly dataBlockCount: number;
}

export interface PhysicalFile {
  readonly fileNumber: number;
  readonly blockCount: number;
  /** Uncompressed data bytes. */
  readonly byteCount: number;
  /** Bytes as stored (compressed size for HET blocks). */
  readonly storedBytes: number;
  readonly minBlockBytes: number;
  readonly maxBlockBytes: number;
  readonly tapemarkBlockNumber: number;
  readonly tapemarkOffsetBytes: number;
}

/** Where the next data set goes: overwrite from this offset on. */
export interface AppendPoint {
  readonly blockNumber: number;
  readonly offsetBytes: number;
  readonly previousChunkBytes: number;
  readonly nextFileSequence: number;
}

export interface TapeContents {
  readonly path: string;
  readonly labelled: boolean;
  readonly volume: VolumeLabel | undefined;
  /** A blank tape as `hetinit` leaves it: SL VOL1, dummy HDR1, TM; or NL TM TM. */
  readonly initializedEmpty: boolean;
  readonly dataSets: readonly TapeDataSet[];
  readonly physicalFiles: readonly PhysicalFile[];
  readonly appendPoint: AppendPoint | undefined;
}

interface MutableDataSet {
  fileSequence: number;
  dsid: string;
  header1: DataSetLabel1 | undefined;
  header2: DataSetLabel2 | undefined;
  trailer1: DataSetLabel1 | undefined;
  trailer2: DataSetLabel2 | undefined;
  userHeaderLabels: UserLabel[];
  userTrailerLabels: UserLabel[];
  dataFileNumber: number;
  firstDataBlockNumber: number;
  dataBlockCount: number;
}

function blockBytes(reader: TapeReader, entry: TapeIndexEntry): number {
  return entry.compression === 'none' ? entry.storedBytes : reader.readBlockData(entry.blockNumber).length;
}

/** Running totals of one physical file's blocks, kept as scalars: a file may hold a million blocks. */
interface FileTally {
  blockCount: number;
  byteCount: number;
  storedBytes: number;
  minBlockBytes: number;
  maxBlockBytes: number;
}

function emptyTally(): FileTally {
  return { blockCount: 0, byteCount: 0, storedBytes: 0, minBlockBytes: Number.POSITIVE_INFINITY, maxBlockBytes: 0 };
}

/** Summarises each physical file: what `hetmap` prints per "File #". */
export function summarisePhysicalFiles(reader: TapeReader): PhysicalFile[] {
  const files: PhysicalFile[] = [];
  let tally = emptyTally();
  for (const entry of reader.index.entries()) {
    if (entry.kind === 'block') {
      const bytes = blockBytes(reader, entry);
      tally.blockCount += 1;
      tally.byteCount += bytes;
      tally.storedBytes += entry.storedBytes;
      tally.minBlockBytes = Math.min(tally.minBlockBytes, bytes);
      tally.maxBlockBytes = Math.max(tally.maxBlockBytes, bytes);
      continue;
    }
    files.push({
      fileNumber: entry.fileNumber,
      blockCount: tally.blockCount,
      byteCount: tally.byteCount,
      storedBytes: tally.storedBytes,
      minBlockBytes: tally.blockCount === 0 ? 0 : tally.minBlockBytes,
      maxBlockBytes: tally.maxBlockBytes,
      tapemarkBlockNumber: entry.blockNumber,
      tapemarkOffsetBytes: entry.offsetBytes,
    });
    tally = emptyTally();
  }
  return files;
}

function previousChunkBytes(reader: TapeReader, blockNumber: number): number {
  return blockNumber === 0 ? 0 : reader.entry(blockNumber - 1).lastChunkBytes;
}

/** Walks an SL tape's blocks through the label state table. */
class LabelWalker {
  state: LabelState = 'start';
  volume: VolumeLabel | undefined;
  readonly dataSets: MutableDataSet[] = [];
  initializedHeaderBlock: number | undefined;
  endOfVolumeBlock: number | undefined;
  private lastHeader1Block = 0;
  private current: MutableDataSet | undefined;

  constructor(private readonly reader: TapeReader) {}

  walk(): void {
    const { sizeBytes, entryCount } = this.reader.index;
    for (const entry of this.reader.index.entries()) {
      if (this.state === 'end-of-volume') return;
      this.step(entry);
    }
    if (this.state !== 'end-of-volume') {
      this.state = nextLabelState(this.state, 'end', 'the end of the file', { path: this.reader.path, blockNumber: entryCount, offsetBytes: sizeBytes });
    }
  }

  private step(entry: TapeIndexEntry): void {
    const where: LabelLocation = { path: this.reader.path, blockNumber: entry.blockNumber, offsetBytes: entry.offsetBytes };
    if (entry.kind === 'tapemark') return this.apply('TM', 'a tapemark', undefined, entry, where);
    if (DATA_STATES.has(this.state)) return this.apply('data', 'a data block', undefined, entry, where);
    const data = this.reader.readBlockData(entry.blockNumber);
    const labelId = labelIdOf(data);
    if (labelId === undefined) return this.apply('data', `a ${data.length}-byte block that is not a label`, undefined, entry, where);
    const label = decodeStandardLabel(data, where);
    const event = (labelId.startsWith('UHL') || labelId.startsWith('UTL') ? labelId.slice(0, 3) : labelId) as LabelEvent;
    this.apply(event, labelId, label, entry, where);
  }

  private apply(
    event: LabelEvent,
    found: string,
    label: ReturnType<typeof decodeStandardLabel> | undefined,
    entry: TapeIndexEntry,
    where: LabelLocation,
  ): void {
    const before = this.state;
    this.state = nextLabelState(before, event, found, where);
    if (label?.labelId === 'VOL1') this.volume = label;
    else if (label?.labelId === 'HDR1') this.startDataSet(label, entry.blockNumber);
    else if (label?.labelId === 'HDR2') this.dataSet(where).header2 = label;
    else if (label?.labelId === 'UHL' || label?.labelId === 'UTL') this.addUserLabel(label, where);
    else if (label?.labelId === 'EOF1' || label?.labelId === 'EOV1') this.closeDataSet(label, where);
    else if (label?.labelId === 'EOF2' || label?.labelId === 'EOV2') this.dataSet(where).trailer2 = label;
    else if (event === 'data') this.dataSet(where).dataBlockCount += 1;
    else if (event === 'TM' && before === 'hdr1') this.initializedHeaderBlock = this.lastHeader1Block;
    else if (event === 'TM' && (before === 'hdr2' || before === 'uhl')) {
      const dataSet = this.dataSet(where);
      dataSet.dataFileNumber = entry.fileNumber + 1;
      dataSet.firstDataBlockNumber = entry.blockNumber + 1;
    } else if (event === 'TM' && this.state === 'end-of-volume') this.endOfVolumeBlock = entry.blockNumber;
  }

  private startDataSet(label: DataSetLabel1, blockNumber: number): void {
    this.lastHeader1Block = blockNumber;
    this.current = {
      fileSequence: label.fileSequence,
      dsid: label.dsid,
      header1: label,
      header2: undefined,
      trailer1: undefined,
      trailer2: undefined,
      userHeaderLabels: [],
      userTrailerLabels: [],
      dataFileNumber: 0,
      firstDataBlockNumber: 0,
      dataBlockCount: 0,
    };
    this.dataSets.push(this.current);
  }

  private dataSet(where: LabelLocation): MutableDataSet {
    if (this.current === undefined)
      throw new TapeLabelError(`Cannot read the labels of ${where.path}: no HDR1 before block ${where.blockNumber}, byte offset ${where.offsetBytes}`, {
        ...where,
      });
    return this.current;
  }

  private addUserLabel(label: UserLabel, where: LabelLocation): void {
    const dataSet = this.dataSet(where);
    const list = label.labelId === 'UHL' ? dataSet.userHeaderLabels : dataSet.userTrailerLabels;
    if (label.number !== list.length + 1) {
      throw new TapeLabelError(
        `Cannot read the labels of ${where.path}: found ${label.labelId}${label.number} where ${label.labelId}${list.length + 1} belongs, at block ${where.blockNumber}, byte offset ${where.offsetBytes}`,
        { ...where },
      );
    }
    list.push(label);
  }

  private closeDataSet(label: DataSetLabel1, where: LabelLocation): void {
    const dataSet = this.dataSet(where);
    dataSet.trailer1 = label;
    const fail = (state: string): never => {
      throw new TapeLabelError(
        `Cannot read the labels of ${where.path}: ${label.labelId} at block ${where.blockNumber}, byte offset ${where.offsetBytes} ${state}`,
        { ...where },
      );
    };
    if (label.blockCount !== dataSet.dataBlockCount)
      fail(`has block count ${label.blockCount}, but data set ${dataSet.fileSequence} has ${dataSet.dataBlockCount} data blocks`);
    if (label.dsid !== dataSet.dsid) fail(`names data set "${label.dsid}", but its HDR1 names "${dataSet.dsid}"`);
    if (label.fileSequence !== dataSet.fileSequence) fail(`has file sequence ${label.fileSequence}, but its HDR1 has ${dataSet.fileSequence}`);
  }
}

function labelledContents(reader: TapeReader): TapeContents {
  const walker = new LabelWalker(reader);
  walker.walk();
  const initializedEmpty = walker.initializedHeaderBlock !== undefined;
  const dataSets = initializedEmpty ? [] : walker.dataSets;
  const appendBlock = initializedEmpty ? walker.initializedHeaderBlock : walker.endOfVolumeBlock;
  const last = dataSets[dataSets.length - 1];
  const appendPoint =
    appendBlock === undefined || walker.dataSets.some((d) => d.trailer1?.labelId === 'EOV1')
      ? undefined
      : {
          blockNumber: appendBlock,
          offsetBytes: reader.entry(appendBlock).offsetBytes,
          previousChunkBytes: previousChunkBytes(reader, appendBlock),
          nextFileSequence: (last?.fileSequence ?? 0) + 1,
        };
  return {
    path: reader.path,
    labelled: true,
    volume: walker.volume,
    initializedEmpty,
    dataSets,
    physicalFiles: summarisePhysicalFiles(reader),
    appendPoint,
  };
}

function unlabelledContents(reader: TapeReader): TapeContents {
  const physicalFiles = summarisePhysicalFiles(reader);
  const { index } = reader;
  const count = index.entryCount;
  if (count <= 2 && [...index.entries()].every((entry) => entry.kind === 'tapemark')) {
    // A blank NL tape as `hetinit -n` writes it (TM TM): no data set, the next one starts at the load point.
    const appendPoint = { blockNumber: 0, offsetBytes: 0, previousChunkBytes: 0, nextFileSequence: 1 };
    return { path: reader.path, labelled: false, volume: undefined, initializedEmpty: true, dataSets: [], physicalFiles, appendPoint };
  }
  // An NL tape ends with a tapemark pair; the second one closes an empty "file" that is not a data set.
  const endsWithPair = count >= 2 && index.entryAt(count - 2)?.kind === 'tapemark';
  const dataFiles = endsWithPair ? physicalFiles.slice(0, -1) : physicalFiles;
  const dataSets: TapeDataSet[] = dataFiles.map((file) => ({
    fileSequence: file.fileNumber,
    dsid: '',
    header1: undefined,
    header2: undefined,
    trailer1: undefined,
    trailer2: undefined,
    userHeaderLabels: [],
    userTrailerLabels: [],
    dataFileNumber: file.fileNumber,
    firstDataBlockNumber: file.tapemarkBlockNumber - file.blockCount,
    dataBlockCount: file.blockCount,
  }));
  const lastMark = index.entryAt(count - 1);
  const appendPoint =
    endsWithPair && lastMark !== undefined
      ? {
          blockNumber: lastMark.blockNumber,
          offsetBytes: lastMark.offsetBytes,
          previousChunkBytes: previousChunkBytes(reader, lastMark.blockNumber),
          nextFileSequence: dataSets.length + 1,
        }
      : undefined;
  return { path: reader.path, labelled: false, volume: undefined, initializedEmpty: false, dataSets, physicalFiles, appendPoint };
}

/** Reads the structure of a whole tape (labels are checked on SL tapes). */
export function readTapeContents(reader: TapeReader): TapeContents {
  const first = reader.index.entryAt(0);
  const isLabelled = first?.kind === 'block' && labelIdOf(reader.readBlockData(0)) === 'VOL1';
  return isLabelled ? labelledContents(reader) : unlabelledContents(reader);
}
