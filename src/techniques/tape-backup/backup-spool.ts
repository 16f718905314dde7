/**
 * The spool of a backup to a slow target (`backup --spool <file>`, in the way QEMU and Proxmox do
 * fleecing): a copy-before-write puts the slot's old bytes into a fast local file instead of onto
 * the tape, so the host write waits for a local write only, and the drain (spool-drain.ts) moves
 * them to their mapped tape positions in the background.
 *
 * The file is a log of entries, each a 32-byte header (native-layout/backup-spool.md) and the
 * slot's payload. An entry is written whole, in one call, before the slot is persisted as SPOOLED
 * (durable-bitmap.ts) and before the host write goes ahead; so after a crash every slot persisted
 * SPOOLED has its entry, and `reopen` finds it. A torn tail (the process died mid-entry, before
 * its slot was persisted) is cut off. The spool is removed once the tape is complete.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, rmSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { decodeFields, defineLayout, encodeFields, num, str } from '../../base/field-table.js';
import { translateIoError } from '../../errors/io-error.js';
import { IoError, TargetExistsError, UsageError } from '../../errors/snaptape-error.js';
import { openRegularFile, readFully, writevFully } from '../../base/file-io.js';

export const SPOOL_ENTRY_LAYOUT = defineLayout({
  name: 'backup-spool-entry',
  size: 32,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: '"SNAPSPL1"' },
    { name: 'slot', offset: 8, length: 4, kind: 'u32le', description: 'The backup slot (track, or FBA block group) whose start-instant bytes follow' },
    { name: 'length', offset: 12, length: 4, kind: 'u32le', description: 'Payload bytes that follow the header' },
    { name: 'crc32', offset: 16, length: 4, kind: 'u32le', description: 'CRC-32 (zlib) of the payload' },
    { name: 'reserved', offset: 20, length: 12, kind: 'bytes', description: 'Reserved, zero' },
  ],
});

const MAGIC = 'SNAPSPL1';

/**
 * Whether the file open on `fd` (`sizeBytes` long) starts as a spool does: with MAGIC, or a part of
 * it when shorter (an empty file, or one cut in its first entry, passes).
 */
function startsAsSpool(fd: number, sizeBytes: number, path: string): boolean {
  const start = Buffer.alloc(Math.min(sizeBytes, MAGIC.length));
  readFully(fd, start, 0, path, 'the spool');
  return start.toString('latin1') === MAGIC.slice(0, start.length);
}
const HEADER_BYTES = SPOOL_ENTRY_LAYOUT.size;

interface SpoolEntry {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

export class BackupSpool {
  // Set once.
  readonly path: string;
  private readonly fd: number;
  // Main thread only.
  private readonly entries = new Map<number, SpoolEntry>();
  private endBytes: number;
  private closed = false;
  /** Bytes put into the spool over the session's life (for the summary). */
  bytesSpooled = 0;

  private constructor(path: string, fd: number, endBytes: number) {
    this.path = path;
    this.fd = fd;
    this.endBytes = endBytes;
  }

  /**
   * Creates the spool; with `force` over an older one. `force` replaces only a file that is empty
   * or starts as a spool does: the spool is cut now and removed once the tape is complete, so any
   * other file (a user's notes, the source's size table) is refused, left as it was.
   */
  static create(path: string, options: { readonly force?: boolean } = {}): BackupSpool {
    if (options.force && existsSync(path)) {
      const { fd, sizeBytes } = openRegularFile(path, 'the spool');
      try {
        if (!startsAsSpool(fd, sizeBytes, path))
          throw new UsageError(
            `Cannot create the spool ${path}: the file there is not a backup spool (it does not start with "${MAGIC}"); --force replaces only a spool, so it is left as it was`,
            {
              path,
            },
          );
      } finally {
        closeSync(fd);
      }
    }
    try {
      return new BackupSpool(path, openSync(path, options.force ? 'w+' : 'wx+'), 0);
    } catch (error) {
      if ((error as { code?: string }).code === 'EEXIST')
        throw new TargetExistsError(`Cannot create the spool ${path}: the file exists (use --force to replace it)`, { path });
      throw translateIoError(error, 'create the spool', path);
    }
  }

  /**
   * Reopens the spool of an interrupted backup. `wanted` are the slots persisted SPOOLED: each must
   * have a whole entry, else the point in time is lost (an IoError says which slot).
   * `namedByRecord`: the session record names this file as its spool (the backup made it). Only
   * then is an empty file taken for a spool: an empty file carries no magic that says whose it is,
   * and once the tape is complete the spool is removed.
   */
  static reopen(path: string, wanted: ReadonlySet<number>, namedByRecord: boolean): BackupSpool {
    // The path comes from --spool or the session record: a regular file only, and one that starts
    // as a spool does, before its tail is cut (and, once the tape is complete, the file removed).
    const { fd, sizeBytes } = openRegularFile(path, 'the spool', true);
    const spool = new BackupSpool(path, fd, 0);
    try {
      if (sizeBytes === 0 && !namedByRecord)
        throw new IoError(
          `Cannot resume from the spool ${path}: it is empty and the backup's session record does not name it, so nothing says it is a spool; it is left as it was`,
          { path },
        );
      if (!startsAsSpool(fd, sizeBytes, path))
        throw new IoError(`Cannot resume from the spool ${path}: it is not a backup spool (it does not start with "${MAGIC}"); it is left as it was`, {
          path,
        });
      spool.scan(wanted);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return spool;
  }

  private scan(wanted: ReadonlySet<number>): void {
    const size = fstatSync(this.fd).size;
    const header = Buffer.alloc(HEADER_BYTES);
    let at = 0;
    // Bounded: each step moves past one whole entry, and a bad or torn entry ends the scan.
    while (at + HEADER_BYTES <= size) {
      readFully(this.fd, header, at, this.path);
      const fields = decodeFields(SPOOL_ENTRY_LAYOUT, header);
      const length = num(fields, 'length');
      if (str(fields, 'magic') !== MAGIC || at + HEADER_BYTES + length > size) break;
      if (wanted.has(num(fields, 'slot'))) {
        const payload = Buffer.alloc(length);
        readFully(this.fd, payload, at + HEADER_BYTES, this.path);
        if (crc32(payload) === num(fields, 'crc32')) this.entries.set(num(fields, 'slot'), { offsetBytes: at + HEADER_BYTES, lengthBytes: length });
      }
      at += HEADER_BYTES + length;
    }
    for (const slot of wanted) {
      if (!this.entries.has(slot))
        throw new IoError(`Cannot resume from the spool ${this.path}: slot ${slot} is recorded as spooled but its entry is missing or damaged`, {
          path: this.path,
          slot,
        });
    }
    // Cut a torn tail, so that new entries follow the last whole one.
    if (at < size) ftruncateSync(this.fd, at);
    this.endBytes = at;
  }

  /** True while the slot's start-instant bytes are here and not yet on the tape. */
  holds(slot: number): boolean {
    return this.entries.has(slot);
  }

  get size(): number {
    return this.entries.size;
  }

  slots(): number[] {
    return [...this.entries.keys()];
  }

  /** Appends the slot's payload in one write (header and payload together). */
  put(slot: number, payload: Uint8Array): void {
    const header = encodeFields(SPOOL_ENTRY_LAYOUT, { magic: MAGIC, slot, length: payload.length, crc32: crc32(payload), reserved: Buffer.alloc(12) });
    const at = this.endBytes;
    writevFully(this.fd, [header, payload], at, this.path, 'the spool');
    this.endBytes = at + HEADER_BYTES + payload.length;
    this.entries.set(slot, { offsetBytes: at + HEADER_BYTES, lengthBytes: payload.length });
    this.bytesSpooled += payload.length;
  }

  read(slot: number): Buffer {
    const entry = this.entries.get(slot);
    if (!entry) throw new IoError(`Cannot read slot ${slot} from the spool ${this.path}: it is not there`, { path: this.path, slot });
    const payload = Buffer.alloc(entry.lengthBytes);
    readFully(
      this.fd,
      payload,
      entry.offsetBytes,
      this.path,
      `slot ${slot} from the spool`,
      () => new IoError(`Cannot read slot ${slot} from the spool ${this.path}: the file ends early`, { path: this.path, slot }),
    );
    return payload;
  }

  /** The slot is on the tape now: its entry is no longer needed. */
  forget(slot: number): void {
    this.entries.delete(slot);
  }

  sync(): void {
    try {
      fsyncSync(this.fd);
    } catch (error) {
      throw translateIoError(error, 'sync the spool', this.path);
    }
  }

  close(options: { readonly remove?: boolean } = {}): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (options.remove) rmSync(this.path, { force: true });
  }
}
