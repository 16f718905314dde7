/**
 * Copies one data set off a tape (`tape get`, like `hetget`): data set sequence n on an SL tape,
 * physical file n on an NL tape. Binary output is the data blocks concatenated; `text` turns
 * EBCDIC fixed records (F/FB, LRECL from HDR2) or U blocks into ASCII lines.
 *
 * Invariants: the tape is only read; an existing output file is replaced only with `force`, and
 * only by a whole copy: the data set is written block by block (memory holds a read window, not the
 * data set, which HET blocks may inflate far past the tape's size) into a new file beside the
 * output, which takes the output's name once complete and is removed if the copy fails.
 */
import { closeSync, existsSync, linkSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { checkCartridgeWritable } from '../library/cartridge-guard.js';
import { decodeEbcdic } from '../base/ebcdic.js';
import { writeFully } from '../base/file-io.js';
import { translateIoError } from '../errors/io-error.js';
import { TargetExistsError, UsageError } from '../errors/snaptape-error.js';
import { fixedRecordsToText } from './fixed-records.js';
import { readTapeContents } from './tape-contents.js';
import { recordFormatOf } from './tape-file-spec.js';
import { TapeReader } from './tape-reader.js';

export interface ExtractResult {
  readonly path: string;
  readonly outPath: string;
  readonly fileSequence: number;
  readonly dsname: string;
  readonly recordFormat: string;
  readonly blockCount: number;
  readonly byteCount: number;
  readonly writtenBytes: number;
}

/**
 * Turns blocks into text one at a time, as `text` asks: EBCDIC fixed records (F/FB with an LRECL)
 * become lines, carried across blocks (a short last record is a line too); any other block is one
 * line. Holds at most one record between blocks.
 */
class TextLines {
  private carry = Buffer.alloc(0);

  constructor(private readonly recordLengthBytes: number) {}

  static for(recordFormat: string, recordLengthBytes: number, path: string): TextLines {
    if (recordFormat.startsWith('V'))
      throw new UsageError(`Cannot convert the data set on ${path} to text: RECFM ${recordFormat} is not supported with --text`, { path });
    return new TextLines(recordFormat.startsWith('F') && recordLengthBytes > 0 ? recordLengthBytes : 0);
  }

  /** The text of `block` (and of the records it completes). */
  block(block: Buffer): Buffer {
    if (this.recordLengthBytes === 0) return Buffer.from(`${decodeEbcdic(block).replace(/ +$/, '')}\n`, 'latin1');
    const data = this.carry.length === 0 ? block : Buffer.concat([this.carry, block]);
    const whole = data.length - (data.length % this.recordLengthBytes);
    this.carry = Buffer.from(data.subarray(whole));
    return Buffer.from(fixedRecordsToText(data.subarray(0, whole), this.recordLengthBytes), 'latin1');
  }

  /** The text of a short last record, if any. */
  end(): Buffer {
    return Buffer.from(this.recordLengthBytes === 0 ? '' : fixedRecordsToText(this.carry, this.recordLengthBytes), 'latin1');
  }
}

/** Copies the data set of file sequence `fileSequence` on a labelled tape into the host file `outPath` (with `text`, records become lines). Throws UsageError for a missing file sequence or a record format `text` cannot convert, TapeFormatError or TapeLabelError for a damaged tape, TargetExistsError when `outPath` exists without `force`. */
export function extractDataSet(
  path: string,
  fileSequence: number,
  outPath: string,
  options: { readonly text?: boolean; readonly force?: boolean } = {},
): ExtractResult {
  const exists = (): TargetExistsError => new TargetExistsError(`Cannot write ${outPath}: the file exists (use --force to replace it)`, { path: outPath });
  if (!options.force && existsSync(outPath)) throw exists();
  const reader = TapeReader.open(path);
  try {
    const contents = readTapeContents(reader);
    const dataSet = contents.dataSets.find((d) => d.fileSequence === fileSequence);
    if (dataSet === undefined) {
      const have = contents.dataSets.map((d) => d.fileSequence);
      throw new UsageError(
        `Cannot extract data set ${fileSequence} from ${path}: the tape holds ${have.length === 0 ? 'no data sets' : `data sets ${have.join(', ')}`}`,
        { path, fileSequence },
      );
    }
    const recordFormat = dataSet.header2 === undefined ? 'U' : recordFormatOf(dataSet.header2);
    const text = options.text ? TextLines.for(recordFormat, dataSet.header2?.recordLengthBytes ?? 0, path) : undefined;
    // The output is a host file, but one written over a library cartridge would overwrite a tape.
    checkCartridgeWritable(outPath, `write ${outPath}`);
    // Written block by block (a data set may be far larger than memory: HET blocks inflate) into a
    // file of its own beside the output, which becomes the output only once whole.
    const partPath = join(dirname(outPath), `.${basename(outPath)}.${process.pid}.part`);
    let fd: number;
    try {
      fd = openSync(partPath, 'wx', 0o666);
    } catch (cause) {
      throw translateIoError(cause, 'write the extracted data set', outPath);
    }
    let byteCount = 0;
    let writtenBytes = 0;
    let done = false;
    try {
      const write = (bytes: Buffer): void => {
        writeFully(fd, bytes, writtenBytes, outPath, 'the extracted data set');
        writtenBytes += bytes.length;
      };
      reader.forEachBlockData(dataSet.firstDataBlockNumber, dataSet.dataBlockCount, (block) => {
        byteCount += block.length;
        write(text ? text.block(block) : block);
      });
      if (text) write(text.end());
      closeSync(fd);
      fd = -1;
      try {
        if (options.force) renameSync(partPath, outPath);
        else placeWithoutReplacing(partPath, outPath, exists);
      } catch (cause) {
        if (cause instanceof TargetExistsError) throw cause;
        throw translateIoError(cause, 'write the extracted data set', outPath);
      }
      done = true;
    } finally {
      if (fd >= 0) closeSync(fd);
      if (!done) rmSync(partPath, { force: true });
    }
    return { path, outPath, fileSequence, dsname: dataSet.dsid, recordFormat, blockCount: dataSet.dataBlockCount, byteCount, writtenBytes };
  } finally {
    reader.close();
  }
}

/** Renames `partPath` to `outPath` unless a file took that name meanwhile (a hard link fails if it exists). */
function placeWithoutReplacing(partPath: string, outPath: string, exists: () => TargetExistsError): void {
  try {
    linkSync(partPath, outPath);
  } catch (cause) {
    if ((cause as { code?: string }).code === 'EEXIST') throw exists();
    throw cause;
  }
  rmSync(partPath);
}
