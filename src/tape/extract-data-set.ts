/**
 * Copies one data set off a tape (`tape get`, like `hetget`): data set sequence n on an SL tape,
 * physical file n on an NL tape. Binary output is the data blocks concatenated; `text` turns
 * EBCDIC fixed records (F/FB, LRECL from HDR2) or U blocks into ASCII lines.
 *
 * Invariants: the tape is only read; an existing output file is replaced only with `force`.
 */
import { writeFileSync } from 'node:fs';
import { checkCartridgeWritable } from '../library/cartridge-guard.js';
import { decodeEbcdic } from '../base/ebcdic.js';
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

function asText(blocks: readonly Buffer[], recordFormat: string, recordLengthBytes: number, path: string): Buffer {
  if (recordFormat.startsWith('F') && recordLengthBytes > 0) return Buffer.from(fixedRecordsToText(Buffer.concat(blocks), recordLengthBytes), 'latin1');
  if (recordFormat.startsWith('V'))
    throw new UsageError(`Cannot convert the data set on ${path} to text: RECFM ${recordFormat} is not supported with --text`, { path });
  const lines = blocks.map((b) => decodeEbcdic(b).replace(/ +$/, ''));
  return Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'latin1');
}

/** Copies the data set of file sequence `fileSequence` on a labelled tape into the host file `outPath` (with `text`, records become lines). Throws UsageError for a missing file sequence or a record format `text` cannot convert, TapeFormatError or TapeLabelError for a damaged tape, TargetExistsError when `outPath` exists without `force`. */
export function extractDataSet(
  path: string,
  fileSequence: number,
  outPath: string,
  options: { readonly text?: boolean; readonly force?: boolean } = {},
): ExtractResult {
  const reader = TapeReader.open(path);
  let blocks: Buffer[];
  let dsname: string;
  let recordFormat: string;
  let recordLengthBytes: number;
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
    blocks = [];
    for (let i = 0; i < dataSet.dataBlockCount; i++) blocks.push(reader.readBlockData(dataSet.firstDataBlockNumber + i));
    dsname = dataSet.dsid;
    recordFormat = dataSet.header2 === undefined ? 'U' : recordFormatOf(dataSet.header2);
    recordLengthBytes = dataSet.header2?.recordLengthBytes ?? 0;
  } finally {
    reader.close();
  }
  const output = options.text ? asText(blocks, recordFormat, recordLengthBytes, path) : Buffer.concat(blocks);
  // The output is a host file, but one written over a library cartridge would overwrite a tape.
  checkCartridgeWritable(outPath, `write ${outPath}`);
  try {
    writeFileSync(outPath, output, { flag: options.force ? 'w' : 'wx' });
  } catch (cause) {
    if ((cause as { code?: string }).code === 'EEXIST')
      throw new TargetExistsError(`Cannot write ${outPath}: the file exists (use --force to replace it)`, { path: outPath });
    throw translateIoError(cause, 'write the extracted data set', outPath);
  }
  return {
    path,
    outPath,
    fileSequence,
    dsname,
    recordFormat,
    blockCount: blocks.length,
    byteCount: blocks.reduce((a, b) => a + b.length, 0),
    writtenBytes: output.length,
  };
}
