/**
 * The listing behind `tape ls`: the volume, each data set (sequence number, name, RECFM, block and
 * byte counts, user labels) and each physical file between tapemarks, as `hetmap` numbers them.
 * Plain data, ready for JSON.
 */
import { decodeEbcdic } from '../base/ebcdic.js';
import { readTapeContents } from './tape-contents.js';
import { recordFormatOf } from './tape-file-spec.js';
import { TapeReader } from './tape-reader.js';
import type { PhysicalFile } from './tape-contents.js';

export interface DataSetListing {
  readonly fileSequence: number;
  readonly dsname: string;
  readonly recordFormat: string;
  readonly recordLengthBytes: number;
  readonly blockSizeBytes: number;
  readonly blockCount: number;
  readonly byteCount: number;
  /** Physical file (1-based) holding the data. */
  readonly dataFileNumber: number;
  readonly creationDate: string;
  /** User label data as EBCDIC text, trailing blanks removed. */
  readonly userHeaderLabels: readonly string[];
  readonly userTrailerLabels: readonly string[];
}

export interface TapeListing {
  readonly path: string;
  readonly sizeBytes: number;
  readonly labelled: boolean;
  readonly volser: string;
  readonly owner: string;
  readonly blank: boolean;
  readonly dataSets: readonly DataSetListing[];
  readonly files: readonly PhysicalFile[];
  readonly tapemarkCount: number;
}

/** Lists the labels, data sets and physical files of a tape (AWSTAPE or HET). Throws TapeFormatError for a damaged tape. */
export function listTape(path: string): TapeListing {
  const reader = TapeReader.open(path);
  try {
    const contents = readTapeContents(reader);
    const dataSets = contents.dataSets.map((dataSet): DataSetListing => {
      const file = contents.physicalFiles.find((f) => f.fileNumber === dataSet.dataFileNumber);
      const header2 = dataSet.header2;
      return {
        fileSequence: dataSet.fileSequence,
        dsname: dataSet.dsid,
        recordFormat: header2 === undefined ? '' : recordFormatOf(header2),
        recordLengthBytes: header2?.recordLengthBytes ?? 0,
        blockSizeBytes: header2?.blockLengthBytes ?? 0,
        blockCount: dataSet.dataBlockCount,
        byteCount: file?.byteCount ?? 0,
        dataFileNumber: dataSet.dataFileNumber,
        creationDate: dataSet.header1?.creationDate ?? '',
        userHeaderLabels: dataSet.userHeaderLabels.map((l) => decodeEbcdic(l.userData).replace(/ +$/, '')),
        userTrailerLabels: dataSet.userTrailerLabels.map((l) => decodeEbcdic(l.userData).replace(/ +$/, '')),
      };
    });
    return {
      path,
      sizeBytes: reader.index.sizeBytes,
      labelled: contents.labelled,
      volser: contents.volume?.volser ?? '',
      owner: contents.volume?.owner ?? '',
      blank: contents.initializedEmpty,
      dataSets,
      files: contents.physicalFiles,
      tapemarkCount: reader.index.tapemarkCount,
    };
  } finally {
    reader.close();
  }
}
