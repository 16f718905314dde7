/**
 * Appends one data set to an existing tape (`tape put`). On an SL tape the new HDR1 overwrites the
 * extra tapemark of the end-of-volume pair (or the dummy HDR1 of a blank IEHINITT tape), then
 * HDR1 HDR2 [UHL] TM data… TM EOF1 EOF2 [UTL] TM TM follow, with the next file sequence number. On
 * an NL tape the data blocks replace the extra tapemark and TM TM follows.
 *
 * Invariants: the tape is read and its labels checked before anything is written; the new bytes are
 * written from the append point in order, the file is cut to its new end, synced, and read back.
 */
import { PhaseReporter, type OnPhaseProgress } from '../base/phase-progress.js';
import { closeSync, fsyncSync, ftruncateSync, openSync } from 'node:fs';
import { openRegularFile } from '../base/file-io.js';
import { translateIoError } from '../errors/io-error.js';
import { inLibraryFolder } from '../library/library-marker.js';
import { SnaptapeError, TapeLabelError, VerifyError } from '../errors/snaptape-error.js';
import { readTapeContents, type TapeContents } from './tape-contents.js';
import { buildFileLabels, dsidOf, type TapeFileSpec } from './tape-file-spec.js';
import { requireCheckedTape, withTapeLock } from './tape-lock.js';
import type { ImageLock } from '../image/image-lock.js';
import { TapeReader } from './tape-reader.js';
import { TapeStreamWriter, writeLabelledFile } from './tape-stream-writer.js';

export interface AppendRequest {
  readonly spec: Omit<TapeFileSpec, 'dataBlockLengths' | 'userTrailerLabelCount'>;
  readonly dataBlocks: readonly Uint8Array[];
  /** Told the phases: write (data blocks) and verify (the tape read back). */
  readonly onProgress?: OnPhaseProgress;
}

/** The blocks, counted through `progress` as the writer takes each. */
function* counted(blocks: readonly Uint8Array[], progress: PhaseReporter): Generator<Uint8Array> {
  for (const block of blocks) {
    yield block;
    progress.advance();
  }
}

export interface AppendResult {
  readonly path: string;
  readonly labelled: boolean;
  readonly volser: string;
  readonly fileSequence: number;
  readonly dsid: string;
  readonly blockCount: number;
  readonly byteCount: number;
  readonly startOffsetBytes: number;
  readonly sizeBytes: number;
}

function readContents(path: string): TapeContents {
  const reader = TapeReader.open(path);
  try {
    return readTapeContents(reader);
  } finally {
    reader.close();
  }
}

/** Appends a data set to the tape at `path`, holding the tape's lock from the first read to the read-back. */
export function appendDataSet(path: string, request: AppendRequest): AppendResult {
  return withTapeLock(path, (lock) => appendUnderLock(path, request, lock));
}

function appendUnderLock(path: string, request: AppendRequest, lock: ImageLock): AppendResult {
  const contents = readContents(path);
  const appendPoint = contents.appendPoint;
  if (appendPoint === undefined) {
    throw new TapeLabelError(
      `Cannot append to tape ${path}: it does not end with an end-of-volume tapemark pair (or its last data set continues on another volume)`,
      { path },
    );
  }
  const volser = contents.volume?.volser ?? '';
  const dataBlockLengths = request.dataBlocks.map((b) => b.length);
  const progress = new PhaseReporter(request.onProgress);
  progress.begin('write', request.dataBlocks.length, 'blocks');
  let fd: number;
  try {
    // A cartridge of a library is appended to only as a file of its own (library-marker.ts inLibraryFolder).
    fd = inLibraryFolder(path) ? openRegularFile(path, 'the cartridge', true, { noFollow: true }).fd : openSync(path, 'r+');
  } catch (cause) {
    throw translateIoError(cause, 'open tape for appending', path);
  }
  let endOffsetBytes: number;
  try {
    // Opened by its name: only the file the lock checked is written, not one put at the name since.
    requireCheckedTape(lock, fd, path);
    const writer = new TapeStreamWriter(fd, path, appendPoint);
    if (contents.labelled) {
      const spec = { ...request.spec, dataBlockLengths };
      const labels = buildFileLabels({ volser, spec, fileSequence: appendPoint.nextFileSequence, blockCount: request.dataBlocks.length });
      writeLabelledFile(writer, {
        labels,
        userHeaderLabels: spec.userHeaderLabels,
        userTrailerLabels: spec.userTrailerLabels,
        dataBlocks: counted(request.dataBlocks, progress),
      });
    } else {
      for (const block of counted(request.dataBlocks, progress)) writer.writeBlock(block);
      writer.writeTapemark();
    }
    writer.writeTapemark();
    writer.flush();
    endOffsetBytes = writer.offsetBytes;
    ftruncateSync(fd, endOffsetBytes);
    fsyncSync(fd);
  } catch (cause) {
    // Only system errors (with an errno code) are translated; typed errors and asserts pass through.
    if (typeof (cause as { code?: unknown }).code === 'string' && !(cause instanceof SnaptapeError)) throw translateIoError(cause, 'append to tape', path);
    throw cause;
  } finally {
    closeSync(fd);
  }
  progress.begin('verify', 1, 'read-back');
  const after = readContents(path);
  progress.advance();
  const added = after.dataSets.find((d) => d.fileSequence === appendPoint.nextFileSequence);
  if (added === undefined || added.dataBlockCount !== request.dataBlocks.length) {
    throw new VerifyError(`Cannot verify tape ${path}: data set ${appendPoint.nextFileSequence} does not read back with ${request.dataBlocks.length} blocks`, {
      path,
    });
  }
  return {
    path,
    labelled: contents.labelled,
    volser,
    fileSequence: appendPoint.nextFileSequence,
    dsid: contents.labelled ? dsidOf(request.spec.dsname) : '',
    blockCount: request.dataBlocks.length,
    byteCount: dataBlockLengths.reduce((a, b) => a + b, 0),
    startOffsetBytes: appendPoint.offsetBytes,
    sizeBytes: endOffsetBytes,
  };
}
