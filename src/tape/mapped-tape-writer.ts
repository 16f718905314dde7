/**
 * Writes a planned tape (tape-plan.ts) by position: any data block can be written at its planned
 * offset, in any order, by any thread with its own file descriptor. The per-block functions are
 * stateless: plan + block address + payload determine the bytes and where they go, so a worker
 * and the copy-before-write interceptor never coordinate beyond not writing the same block twice.
 *
 * Invariants:
 * - a write never touches bytes outside its block's planned extent (header + payload);
 * - a payload's length equals its planned length (an assert: the plan is the contract);
 * - a run of consecutive blocks of one file is one contiguous writev (system calls, not bytes, decide throughput);
 * - `finish` writes labels and tapemarks, then re-reads the tape and checks it against the plan.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, statSync, type Stats } from 'node:fs';
import { fileIdentity, openRegularFile, writevFully, type FileIdentity } from '../base/file-io.js';
import { assert } from '../base/assert.js';
import { translateIoError } from '../errors/io-error.js';
import { NoSpaceError, TapeFormatError, TargetExistsError, UsageError } from '../errors/snaptape-error.js';
import { volumeImageKind } from '../image/open-image.js';
import { inLibraryFolder } from '../library/library-marker.js';
import type { ImageLock } from '../image/image-lock.js';
import { mustCreate, requireCheckedTape } from './tape-lock.js';
import { AWS_HEADER_BYTES, blockHeaderBytes, tapemarkHeaderBytes } from './aws-block-header.js';
import { encodeUserLabel } from './standard-labels.js';
import { plannedDataBlock, plannedEntries, type TapePlan } from './tape-plan.js';
import { verifyTapeAgainstPlan, type TapeVerification } from './tape-verify.js';

/** Linux IOV_MAX: one writev takes at most this many buffers (two per block). */
export const MAX_IOVECS_PER_WRITE = 1024;
/** Blocks in one batched write: a header and a payload buffer each. */
export const MAX_BLOCKS_PER_RUN = MAX_IOVECS_PER_WRITE / 2;

export interface DataBlockAddress {
  readonly fileIndex: number;
  readonly blockIndex: number;
}

/** The 6 header bytes of a planned data block (pure). */
export function dataBlockHeaderBytes(plan: TapePlan, where: DataBlockAddress): Buffer {
  const block = plannedDataBlock(plan, where);
  return blockHeaderBytes({ lengthBytes: block.lengthBytes, previousChunkBytes: block.previousChunkBytes });
}

export interface DataBlockRun {
  readonly offsetBytes: number;
  readonly sizeBytes: number;
  /** header, payload, header, payload, … ready for writev. */
  readonly buffers: readonly Uint8Array[];
}

/** Lays out consecutive data blocks of one file, with their headers, as one contiguous extent (pure). */
export function dataBlockRun(
  plan: TapePlan,
  options: { readonly fileIndex: number; readonly firstBlockIndex: number; readonly payloads: readonly Uint8Array[] },
): DataBlockRun {
  assert(options.payloads.length >= 1 && options.payloads.length <= MAX_BLOCKS_PER_RUN, `a run has 1..${MAX_BLOCKS_PER_RUN} blocks`);
  const first = plannedDataBlock(plan, { fileIndex: options.fileIndex, blockIndex: options.firstBlockIndex });
  const buffers: Uint8Array[] = [];
  let sizeBytes = 0;
  options.payloads.forEach((payload, i) => {
    const where = { fileIndex: options.fileIndex, blockIndex: options.firstBlockIndex + i };
    const block = plannedDataBlock(plan, where);
    assert(payload.length === block.lengthBytes, `block ${where.blockIndex} of file ${where.fileIndex} is ${block.lengthBytes} bytes (got ${payload.length})`);
    assert(block.offsetBytes === first.offsetBytes + sizeBytes, 'the blocks of a run are contiguous');
    buffers.push(blockHeaderBytes(block), payload);
    sizeBytes += AWS_HEADER_BYTES + block.lengthBytes;
  });
  return { offsetBytes: first.offsetBytes, sizeBytes, buffers };
}

function writeAllAt(fd: number, buffers: readonly Uint8Array[], tapeOffsetBytes: number, path: string, baseOffsetBytes = 0): void {
  writevFully(fd, buffers, baseOffsetBytes + tapeOffsetBytes, path, 'the tape');
}

/** Writes one data block (header + payload) at its planned offset with the caller's fd. */
export function writeDataBlock(fd: number, plan: TapePlan, where: DataBlockAddress, payload: Uint8Array, path = 'tape', baseOffsetBytes = 0): void {
  writeDataBlockRun(fd, plan, { fileIndex: where.fileIndex, firstBlockIndex: where.blockIndex, payloads: [payload] }, path, baseOffsetBytes);
}

/** Writes consecutive data blocks of one file in one system call. */
export function writeDataBlockRun(
  fd: number,
  plan: TapePlan,
  options: { readonly fileIndex: number; readonly firstBlockIndex: number; readonly payloads: readonly Uint8Array[] },
  path = 'tape',
  baseOffsetBytes = 0,
): void {
  const run = dataBlockRun(plan, options);
  writeAllAt(fd, run.buffers, run.offsetBytes, path, baseOffsetBytes);
}

/** UTL data for each file, by file index, when the plan left it open. */
export type TrailerLabelData = readonly (readonly Uint8Array[] | undefined)[];

/** Writes every label and tapemark of the plan (everything except the data blocks). */
export function writeTapeFrame(fd: number, plan: TapePlan, trailerLabels: TrailerLabelData = [], path = 'tape', baseOffsetBytes = 0): void {
  for (const entry of plannedEntries(plan)) {
    if (entry.kind === 'tapemark') {
      writeAllAt(fd, [tapemarkHeaderBytes(entry.tapemark.previousChunkBytes)], entry.tapemark.offsetBytes, path, baseOffsetBytes);
    } else if (entry.kind === 'label') {
      const label = entry.label;
      let bytes = label.bytes;
      if (bytes === undefined) {
        const number = Number(label.labelId.slice(3));
        const userData = entry.fileIndex === undefined ? undefined : trailerLabels[entry.fileIndex]?.[number - 1];
        assert(userData !== undefined, `data for ${label.labelId} of file ${entry.fileIndex} is given`);
        bytes = encodeUserLabel({ labelId: 'UTL', number, userData });
      }
      writeAllAt(fd, [blockHeaderBytes(label), bytes], label.offsetBytes, path, baseOffsetBytes);
    }
  }
}

/** A tape file being written by position; owns the main fd (workers open their own). */
export class MappedTapeWriter {
  // Set once.
  readonly path: string;
  readonly plan: TapePlan;
  readonly fd: number;
  /** Where the tape starts in the file (0 for a tape file; N0 × 512 on an FBA volume). */
  readonly baseOffsetBytes: number;
  /** The file `fd` is: what another descriptor of the tape, opened by its name, must be too (file-io.ts requireSameFile). */
  readonly identity: FileIdentity;
  // Main thread only.
  private closed = false;

  private constructor(path: string, plan: TapePlan, fd: number, baseOffsetBytes = 0) {
    this.path = path;
    this.plan = plan;
    this.fd = fd;
    this.baseOffsetBytes = baseOffsetBytes;
    this.identity = fileIdentity(fd, path, 'the tape');
  }

  /**
   * Writes a planned tape into a region of an existing file (an FBA volume's image), which must
   * already be long enough; nothing outside the region is touched and the file is not truncated.
   */
  static openRegion(path: string, plan: TapePlan, baseOffsetBytes: number): MappedTapeWriter {
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (cause) {
      throw translateIoError(cause, 'open the tape region', path);
    }
    const fileBytes = fstatSync(fd).size;
    if (baseOffsetBytes + plan.sizeBytes > fileBytes) {
      closeSync(fd);
      throw new NoSpaceError(`Cannot write a ${plan.sizeBytes}-byte tape into ${path} from byte ${baseOffsetBytes}: the file ends at byte ${fileBytes}`, {
        path,
        neededBytes: plan.sizeBytes,
        offsetBytes: baseOffsetBytes,
      });
    }
    return new MappedTapeWriter(path, plan, fd, baseOffsetBytes);
  }

  /**
   * Creates (or with `force` replaces) the tape file, sized to the plan. `lock`, the tape's lock
   * (tape-lock.ts lockTape), checked the file at the name: only that file is written (a tape that was
   * not there then is made new), never a link or another file put at the name since, which is an
   * IoError naming the tape, the other file left as it was (requireCheckedTape).
   */
  static create(path: string, plan: TapePlan, options: { readonly force?: boolean; readonly lock?: ImageLock } = {}): MappedTapeWriter {
    if (!options.force && existsSync(path)) {
      throw new TargetExistsError(`Cannot create tape ${path}: the file exists (use --force to replace it)`, { path });
    }
    let fd: number;
    try {
      if (!options.force) fd = openSync(path, 'wx');
      else if (options.lock !== undefined && mustCreate(options.lock)) fd = openRegularFile(path, 'the tape', true, { noFollow: true, exclusive: true }).fd;
      else fd = openReplaceable(path, options.lock !== undefined);
    } catch (cause) {
      if ((cause as { code?: string }).code === 'EEXIST')
        throw new TargetExistsError(`Cannot create tape ${path}: the file exists (use --force to replace it)`, { path });
      throw translateIoError(cause, 'create tape', path);
    }
    try {
      if (options.lock !== undefined) requireCheckedTape(options.lock, fd, path);
      ftruncateSync(fd, 0);
      ftruncateSync(fd, plan.sizeBytes);
    } catch (cause) {
      closeSync(fd);
      throw translateIoError(cause, 'create tape', path);
    }
    return new MappedTapeWriter(path, plan, fd);
  }

  /**
   * Reopens a tape being written to this plan (an interrupted backup), without truncating it. With
   * `lock`, the tape's lock: only the file it checked is written, never a link or another file put at
   * the name since (an IoError naming the tape, the other file left as it was: requireCheckedTape).
   */
  static open(path: string, plan: TapePlan, lock?: ImageLock): MappedTapeWriter {
    let fd: number;
    try {
      // A library's cartridge is reopened only as a file of its own (library-marker.ts inLibraryFolder).
      fd = inLibraryFolder(path) ? openRegularFile(path, 'the cartridge', true, { noFollow: true }).fd : openSync(path, 'r+');
    } catch (cause) {
      throw translateIoError(cause, 'reopen tape', path);
    }
    try {
      if (lock !== undefined) requireCheckedTape(lock, fd, path);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const sizeBytes = fstatSync(fd).size;
    if (sizeBytes !== plan.sizeBytes) {
      closeSync(fd);
      throw new TapeFormatError(`Cannot reopen tape ${path}: it is ${sizeBytes} bytes, its plan says ${plan.sizeBytes}`, { path, offsetBytes: sizeBytes });
    }
    return new MappedTapeWriter(path, plan, fd);
  }

  writeDataBlock(where: DataBlockAddress, payload: Uint8Array): void {
    assert(!this.closed, 'the writer is open');
    writeDataBlock(this.fd, this.plan, where, payload, this.path, this.baseOffsetBytes);
  }

  writeDataBlockRun(options: { readonly fileIndex: number; readonly firstBlockIndex: number; readonly payloads: readonly Uint8Array[] }): void {
    assert(!this.closed, 'the writer is open');
    writeDataBlockRun(this.fd, this.plan, options, this.path, this.baseOffsetBytes);
  }

  /** Makes the blocks written so far durable (a host flush during a backup). */
  sync(): void {
    if (this.closed) return;
    try {
      fsyncSync(this.fd);
    } catch (cause) {
      throw translateIoError(cause, 'sync tape', this.path);
    }
  }

  /** Writes labels and tapemarks, syncs, closes, and verifies the tape reads back as planned. */
  finish(options: { readonly trailerLabels?: TrailerLabelData } = {}): TapeVerification {
    assert(!this.closed, 'the writer is open');
    writeTapeFrame(this.fd, this.plan, options.trailerLabels, this.path, this.baseOffsetBytes);
    try {
      fsyncSync(this.fd);
    } catch (cause) {
      throw translateIoError(cause, 'sync tape', this.path);
    }
    this.close();
    return verifyTapeAgainstPlan(this.path, this.plan, { baseOffsetBytes: this.baseOffsetBytes, lengthBytes: this.plan.sizeBytes });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * Opens the file a forced tape replaces (or a new one), not cut yet. `--force` replaces a tape, or
 * any other regular file the user names, but never: a folder, a FIFO, a device or a socket (the open
 * does not block, so a FIFO is refused, not waited on; a device would be written through), nor a
 * volume image (named, or reached through a link: a volume is not a file one backs up onto). Those
 * are UsageErrors naming the file, with the file left as it was.
 */
function openReplaceable(path: string, checked: boolean): number {
  // A cartridge of a tape library (a name in a folder with a library marker, which whoever can
  // write the library can fill with links) is written only as a file of its own: a symbolic link
  // or a hard link there is refused, the file it names left alone (file-io.ts SideFileOpen). The
  // library's rules (tape-lock.ts) follow a link to the file it names, which is outside the library.
  // `checked`: the file was there when the tape's lock checked it, and is emptied only once it is
  // known to be that file (create, requireCheckedTape), not here; nor is a file made for it (a
  // dangling link put at its name since would make one wherever it points): it is opened, or refused.
  if (inLibraryFolder(path)) return openRegularFile(path, 'the cartridge', true, { noFollow: true, ...(checked ? {} : { replace: true }) }).fd;
  const refuse = (why: string): never => {
    throw new UsageError(
      `Cannot replace ${path} with a tape: it is ${why}; --force replaces only a regular file that is not a volume, so it is left as it was`,
      {
        path,
      },
    );
  };
  const kindOf = (stat: Stats): string => (stat.isDirectory() ? 'a folder, not a regular file' : `not a regular file (${fileTypeName(stat)})`);
  const before = statIfExists(path);
  if (before !== undefined && !before.isFile()) refuse(kindOf(before));
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | (checked ? 0 : constants.O_CREAT) | constants.O_NONBLOCK, 0o666);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (code === 'EISDIR') refuse('a folder, not a regular file');
    if (code === 'ENXIO') refuse('not a regular file (a socket or a device)');
    throw cause;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) refuse(kindOf(stat));
    const image = volumeImageKind(fd, path);
    if (image !== undefined) refuse(image);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function statIfExists(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
}

function fileTypeName(stat: Stats): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}
