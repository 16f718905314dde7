/**
 * Keeps the size table V with the volume (issue 4: "V is kept with the volume so that no full scan
 * is needed"): `<image>.sizes` holds a 32-byte header and one little-endian u32 per track. It is
 * written when a writable volume closes and trusted on open only if its stamp (the image's size
 * and modification time in nanoseconds) matches the image exactly; after a crash, or after another
 * tool (Hercules) wrote the image, the stamp differs and the table is rebuilt by a scan. The stamp
 * proves only that the image did not change: a store edited in place keeps it, so an entry larger
 * than a track slot (which would make a read or a copy run past the slot) is not trusted either.
 * Layout: native-layout/track-size-store.md.
 */
import { closeSync, existsSync, statSync } from 'node:fs';
import { openRegularFile, readAtMost } from '../base/file-io.js';
import { decodeFields, defineLayout, encodeFields, bytes, num, str } from '../base/field-table.js';
import { durableReplace } from '../image/durable-replace.js';
import { sizeStorePath } from '../image/size-store-path.js';

export const TRACK_SIZE_STORE_LAYOUT = defineLayout({
  name: 'track-size-store-header',
  size: 32,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: '"SNAPSIZE"' },
    { name: 'version', offset: 8, length: 4, kind: 'u32le', description: 'Format version (1)' },
    { name: 'trackCount', offset: 12, length: 4, kind: 'u32le', description: 'Entries that follow the header' },
    { name: 'imageBytes', offset: 16, length: 8, kind: 'bytes', description: 'Stamp: the image size, u64 little-endian' },
    { name: 'imageMtimeNs', offset: 24, length: 8, kind: 'bytes', description: 'Stamp: the image modification time in ns, u64 little-endian' },
  ],
});

const MAGIC = 'SNAPSIZE';
const VERSION = 1;
const ENTRY_BYTES = 4;

export { sizeStorePath };

function stampOf(imagePath: string): { size: bigint; mtimeNs: bigint } {
  const s = statSync(imagePath, { bigint: true });
  return { size: s.size, mtimeNs: s.mtimeNs };
}

function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
}

/**
 * The first `bytes` bytes of the store at `path`; with `exact`, undefined unless the file holds
 * exactly that many. Its size is taken first: a store of another length is never read whole (a
 * sparse one costs no disk, but reading it would cost its size in memory).
 */
function readStoreBytes(path: string, bytes: number, exact = true): Buffer | undefined {
  const { fd, sizeBytes: size } = openRegularFile(path, 'the size store');
  try {
    if (exact ? size !== bytes : size < bytes) return undefined;
    const data = Buffer.alloc(bytes);
    return readAtMost(fd, data, 0, path, 'the size store') === bytes ? data : undefined;
  } finally {
    closeSync(fd);
  }
}

/** The stored table, or why it cannot be trusted (the volume then rebuilds it by a scan). */
export type StoredTrackSizes = { readonly table: Uint32Array } | { readonly reason: string };

/** `slotBytes`: the image's track slot, which no entry may exceed. */
export function readTrackSizes(imagePath: string, trackCount: number, slotBytes: number): StoredTrackSizes {
  const path = sizeStorePath(imagePath);
  if (!existsSync(path)) return { reason: `no size store ${path} (never closed by snaptape, or removed)` };
  try {
    const data = readStoreBytes(path, TRACK_SIZE_STORE_LAYOUT.size + trackCount * ENTRY_BYTES);
    if (data === undefined) return { reason: `${path} is not a store of ${trackCount} tracks` };
    const header = decodeFields(TRACK_SIZE_STORE_LAYOUT, data);
    if (str(header, 'magic') !== MAGIC || num(header, 'version') !== VERSION || num(header, 'trackCount') !== trackCount)
      return { reason: `${path} is damaged or of another format` };
    const stamp = stampOf(imagePath);
    if (bytes(header, 'imageBytes').readBigUInt64LE() !== stamp.size || bytes(header, 'imageMtimeNs').readBigUInt64LE() !== stamp.mtimeNs) {
      return { reason: `the image changed after ${path} was written (a crash, or a write by another tool)` };
    }
    const table = new Uint32Array(trackCount);
    for (let t = 0; t < trackCount; t++) {
      const used = data.readUInt32LE(TRACK_SIZE_STORE_LAYOUT.size + t * ENTRY_BYTES);
      if (used > slotBytes) return { reason: `${path} says track ${t} uses ${used} bytes, more than its ${slotBytes}-byte slot` };
      table[t] = used;
    }
    return { table };
  } catch (error) {
    return { reason: `${path} cannot be read (${error instanceof Error ? error.message : String(error)})` };
  }
}

/** The stored table, or undefined when there is none or its stamp does not match the image. */
export function loadTrackSizes(imagePath: string, trackCount: number, slotBytes: number): Uint32Array | undefined {
  const stored = readTrackSizes(imagePath, trackCount, slotBytes);
  return 'table' in stored ? stored.table : undefined;
}

/** Writes the table with the image's current stamp (durable-replace.ts: never half written). */
export function saveTrackSizes(imagePath: string, table: Uint32Array): void {
  let stamp: { size: bigint; mtimeNs: bigint };
  try {
    stamp = stampOf(imagePath);
  } catch {
    // Not fatal either: the image was moved or removed meanwhile, and a table beside its old name would stamp nothing.
    return;
  }
  const header = encodeFields(TRACK_SIZE_STORE_LAYOUT, {
    magic: MAGIC,
    version: VERSION,
    trackCount: table.length,
    imageBytes: u64(stamp.size),
    imageMtimeNs: u64(stamp.mtimeNs),
  });
  const body = Buffer.alloc(table.length * ENTRY_BYTES);
  for (let t = 0; t < table.length; t++) body.writeUInt32LE(table[t] as number, t * ENTRY_BYTES);
  const path = sizeStorePath(imagePath);
  try {
    durableReplace(path, Buffer.concat([header, body]), 'save the track sizes');
  } catch {
    // Not fatal: the next open scans instead.
  }
}

/**
 * Gives a byte copy of an image its source's size table, stamped for the copy. `copy` makes the copy;
 * the table is carried over only when it was valid before the copy and the source did not change
 * while it was copied, so a copy never trusts a table that its bytes may not match.
 */
export function copyWithTrackSizes(sourceImage: string, copyImage: string, copy: () => void): void {
  const before = stampOf(sourceImage);
  const store = sizeStorePath(sourceImage);
  let stored: StoredTrackSizes = { reason: 'no size store' };
  if (existsSync(store)) {
    const header = readStoreBytes(store, TRACK_SIZE_STORE_LAYOUT.size, false);
    // Any entry passes here: the copy's open checks the table against its slot, as any open does.
    if (header !== undefined) stored = readTrackSizes(sourceImage, num(decodeFields(TRACK_SIZE_STORE_LAYOUT, header), 'trackCount'), 0xffffffff);
  }
  copy();
  const after = stampOf(sourceImage);
  if ('table' in stored && after.size === before.size && after.mtimeNs === before.mtimeNs) saveTrackSizes(copyImage, stored.table);
}
