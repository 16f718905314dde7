/**
 * The files of a track pool on their own (native-layout/mapped-subsystem.md): creating a
 * subsystem folder, and reading and checking `pool.slots`' header and `pool.refs`. Its fsync helper
 * translates host errors into typed ones (positioned reads and writes: base/file-io.ts).
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { readAtMost, readFully, writeFully } from '../base/file-io.js';
import { join } from 'node:path';
import { decodeFields, encodeFields, field, num, str } from '../base/field-table.js';
import { ImageFormatError, TargetExistsError, UsageError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { familyByDevtypeByte, type CkdFamily } from '../geometry/device-types.js';
import {
  PINS_DIR,
  POOL_FILE,
  POOL_HEADER_LAYOUT,
  POOL_MAGIC,
  REFCOUNT_BYTES,
  REFS_FILE,
  REFS_HEADER_LAYOUT,
  REFS_MAGIC,
  REFS_STATE,
  SUBSYSTEM_FORMAT_VERSION,
  TOKENS_DIR,
} from './subsystem-layouts.js';

export interface PoolShape {
  readonly family: CkdFamily;
  readonly slotBytes: number;
  readonly heads: number;
}

export function ioSync(fd: number, path: string): void {
  try {
    fsyncSync(fd);
  } catch (error) {
    throw translateIoError(error, `flush ${path}`, path);
  }
}

export function openFile(path: string, flags: string): number {
  try {
    return openSync(path, flags);
  } catch (error) {
    throw translateIoError(error, `open ${path}`, path);
  }
}

/** Creates a subsystem folder: an empty pool of `family` slots, and the token and pin folders. */
export function initSubsystem(dir: string, family: CkdFamily, options: { force?: boolean } = {}): PoolShape {
  if (existsSync(join(dir, POOL_FILE)) && !options.force) {
    throw new TargetExistsError(`Cannot create a subsystem in ${dir}: it already holds ${POOL_FILE}`, { path: dir });
  }
  if (existsSync(dir) && readdirSync(dir).some((n) => n !== POOL_FILE && n !== REFS_FILE) && !options.force) {
    throw new TargetExistsError(`Cannot create a subsystem in ${dir}: the folder is not empty`, { path: dir });
  }
  mkdirSync(join(dir, TOKENS_DIR), { recursive: true });
  mkdirSync(join(dir, PINS_DIR), { recursive: true });
  const shape = { family, slotBytes: family.trackSlotBytes, heads: family.heads };
  const header = encodeFields(POOL_HEADER_LAYOUT, {
    magic: POOL_MAGIC,
    version: SUBSYSTEM_FORMAT_VERSION,
    family: family.family,
    devtypeByte: family.devtypeByte,
    slotBytes: shape.slotBytes,
    heads: shape.heads,
  });
  const poolPath = join(dir, POOL_FILE);
  const refsPath = join(dir, REFS_FILE);
  const poolFd = openFile(poolPath, 'w');
  try {
    writeFully(poolFd, header, 0, poolPath, 'the pool header');
    ioSync(poolFd, poolPath);
  } finally {
    closeSync(poolFd);
  }
  const refsFd = openFile(refsPath, 'w');
  try {
    writeFully(
      refsFd,
      encodeFields(REFS_HEADER_LAYOUT, { magic: REFS_MAGIC, version: SUBSYSTEM_FORMAT_VERSION, slotCount: 0, state: REFS_STATE.clean, slotsEverUsed: 0 }),
      0,
      refsPath,
      'the refs header',
    );
    ioSync(refsFd, refsPath);
  } finally {
    closeSync(refsFd);
  }
  return shape;
}

function corrupt(path: string, problem: string, offset: number): never {
  throw new ImageFormatError(`Cannot open the track pool ${path}: ${problem}`, { path, offset });
}

/** Reads and checks the pool header and the slot count from the file size. */
export function readPoolShape(dir: string, fd?: number): PoolShape & { slotCount: number } {
  const path = join(dir, POOL_FILE);
  if (!existsSync(path))
    throw new UsageError(`Cannot open the subsystem ${dir}: it has no ${POOL_FILE} (create one with: snaptape subsystem init ${dir} --type 3390)`, {
      path: dir,
    });
  const own = fd === undefined ? openFile(path, 'r') : fd;
  try {
    const sizeBytes = fstatSync(own).size;
    const head = Buffer.alloc(POOL_HEADER_LAYOUT.size);
    if (readAtMost(own, head, 0, path, 'the pool header') < head.length)
      corrupt(path, `the file has ${sizeBytes} bytes, shorter than the ${POOL_HEADER_LAYOUT.size}-byte header`, sizeBytes);
    const f = decodeFields(POOL_HEADER_LAYOUT, head);
    if (str(f, 'magic') !== POOL_MAGIC) corrupt(path, `it does not start with "${POOL_MAGIC}"`, 0);
    if (num(f, 'version') !== SUBSYSTEM_FORMAT_VERSION)
      corrupt(
        path,
        `format version ${num(f, 'version')} at offset ${field(POOL_HEADER_LAYOUT, 'version').offset} is not ${SUBSYSTEM_FORMAT_VERSION}`,
        field(POOL_HEADER_LAYOUT, 'version').offset,
      );
    const family = familyByDevtypeByte(num(f, 'devtypeByte'));
    const devOffset = field(POOL_HEADER_LAYOUT, 'devtypeByte').offset;
    if (!family || family.family !== str(f, 'family'))
      corrupt(path, `device type byte 0x${num(f, 'devtypeByte').toString(16)} at offset ${devOffset} does not match family "${str(f, 'family')}"`, devOffset);
    const slotOffset = field(POOL_HEADER_LAYOUT, 'slotBytes').offset;
    if (num(f, 'slotBytes') !== family.trackSlotBytes || num(f, 'heads') !== family.heads)
      corrupt(path, `slot size ${num(f, 'slotBytes')} / heads ${num(f, 'heads')} at offset ${slotOffset} are not a ${family.family}'s`, slotOffset);
    const dataBytes = sizeBytes - POOL_HEADER_LAYOUT.size;
    if (dataBytes % family.trackSlotBytes !== 0)
      corrupt(path, `${sizeBytes} bytes is not the header plus whole ${family.trackSlotBytes}-byte slots (truncated?)`, sizeBytes);
    return { family, slotBytes: family.trackSlotBytes, heads: family.heads, slotCount: dataBytes / family.trackSlotBytes };
  } finally {
    if (fd === undefined) closeSync(own);
  }
}

export interface RefsFile {
  readonly counts: Uint32Array;
  readonly state: number;
  readonly slotsEverUsed: number;
}

/** Reads `pool.refs`; a count file shorter than the pool (a crash while growing) reads as zeros. */
export function readRefs(dir: string, slotCount: number): RefsFile {
  const path = join(dir, REFS_FILE);
  if (!existsSync(path))
    throw new ImageFormatError(`Cannot open the reference counts ${path}: the file is missing (rebuild it with: snaptape subsystem check ${dir} --repair)`, {
      path,
      offset: 0,
    });
  const fd = openFile(path, 'r');
  try {
    const sizeBytes = fstatSync(fd).size;
    const head = Buffer.alloc(REFS_HEADER_LAYOUT.size);
    if (readAtMost(fd, head, 0, path, 'the refs header') < head.length)
      throw new ImageFormatError(`Cannot open the reference counts ${path}: ${sizeBytes} bytes is shorter than the header`, { path, offset: sizeBytes });
    const f = decodeFields(REFS_HEADER_LAYOUT, head);
    if (str(f, 'magic') !== REFS_MAGIC || num(f, 'version') !== SUBSYSTEM_FORMAT_VERSION) {
      throw new ImageFormatError(`Cannot open the reference counts ${path}: it does not start with "${REFS_MAGIC}" version ${SUBSYSTEM_FORMAT_VERSION}`, {
        path,
        offset: 0,
      });
    }
    const stored = num(f, 'slotCount');
    if (stored > slotCount || sizeBytes < REFS_HEADER_LAYOUT.size + stored * REFCOUNT_BYTES) {
      throw new ImageFormatError(
        `Cannot open the reference counts ${path}: it claims ${stored} slots, the pool has ${slotCount} and the file holds ${Math.floor((sizeBytes - REFS_HEADER_LAYOUT.size) / REFCOUNT_BYTES)}`,
        { path, offset: field(REFS_HEADER_LAYOUT, 'slotCount').offset },
      );
    }
    const body = Buffer.alloc(stored * REFCOUNT_BYTES);
    if (body.length > 0) readFully(fd, body, REFS_HEADER_LAYOUT.size, path, 'the counts');
    const counts = new Uint32Array(slotCount);
    for (let s = 0; s < stored; s++) counts[s] = body.readUInt32LE(s * REFCOUNT_BYTES);
    return { counts, state: num(f, 'state'), slotsEverUsed: Math.min(num(f, 'slotsEverUsed'), slotCount) };
  } finally {
    closeSync(fd);
  }
}
