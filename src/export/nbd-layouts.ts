/**
 * The fixed NBD wire structures as field tables (native-layout/nbd.md, nbd-layouts.json). All
 * integers are big-endian ("network byte order"). 64-bit fields (magics, sizes, offsets, request
 * handles) are carried as 8 raw bytes, because the field-table codec stops at 32 bits; `readU64`
 * and `u64Bytes` convert them, and offsets beyond 2^53 are rejected as out of range by the caller.
 *
 * Invariant: every offset used on the wire in src/export comes from these tables.
 */
import { assert, assertInteger } from '../base/assert.js';
import { defineLayout, type Layout } from '../base/field-table.js';

/** S: greeting, "Newstyle negotiation". */
export const NBD_GREETING = defineLayout({
  name: 'nbd-greeting',
  size: 18,
  fill: 0,
  fields: [
    { name: 'nbdMagic', offset: 0, length: 8, kind: 'bytes', description: 'ASCII "NBDMAGIC"' },
    { name: 'ihaveopt', offset: 8, length: 8, kind: 'bytes', description: 'ASCII "IHAVEOPT"' },
    { name: 'handshakeFlags', offset: 16, length: 2, kind: 'u16be', description: 'FIXED_NEWSTYLE (bit 0), NO_ZEROES (bit 1)' },
  ],
});

/** C: client flags, right after the greeting. */
export const NBD_CLIENT_FLAGS = defineLayout({
  name: 'nbd-client-flags',
  size: 4,
  fill: 0,
  fields: [{ name: 'clientFlags', offset: 0, length: 4, kind: 'u32be', description: 'C_FIXED_NEWSTYLE (bit 0), C_NO_ZEROES (bit 1); other bits MUST be zero' }],
});

/** C: option request header; `dataLength` bytes of option data follow. */
export const NBD_OPTION_REQUEST = defineLayout({
  name: 'nbd-option-request',
  size: 16,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'bytes', description: 'ASCII "IHAVEOPT"' },
    { name: 'option', offset: 8, length: 4, kind: 'u32be', description: 'NBD_OPT_* option type' },
    { name: 'dataLength', offset: 12, length: 4, kind: 'u32be', description: 'bytes of option data that follow' },
  ],
});

/** S: option reply header; `dataLength` bytes of reply data follow. */
export const NBD_OPTION_REPLY = defineLayout({
  name: 'nbd-option-reply',
  size: 20,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'bytes', description: '0x0003e889045565a9' },
    { name: 'option', offset: 8, length: 4, kind: 'u32be', description: 'the option being replied to' },
    { name: 'replyType', offset: 12, length: 4, kind: 'u32be', description: 'NBD_REP_*; bit 31 set for errors' },
    { name: 'dataLength', offset: 16, length: 4, kind: 'u32be', description: 'bytes of reply data that follow' },
  ],
});

/** S: reply to NBD_OPT_EXPORT_NAME (124 zero bytes follow unless NO_ZEROES was agreed). */
export const NBD_EXPORT_NAME_REPLY = defineLayout({
  name: 'nbd-export-name-reply',
  size: 10,
  fill: 0,
  fields: [
    { name: 'sizeBytes', offset: 0, length: 8, kind: 'bytes', description: 'u64 export size in bytes' },
    { name: 'transmissionFlags', offset: 8, length: 2, kind: 'u16be', description: 'NBD_FLAG_* transmission flags' },
  ],
});

/** S: NBD_REP_INFO data for NBD_INFO_EXPORT. */
export const NBD_INFO_EXPORT_DATA = defineLayout({
  name: 'nbd-info-export',
  size: 12,
  fill: 0,
  fields: [
    { name: 'infoType', offset: 0, length: 2, kind: 'u16be', description: 'NBD_INFO_EXPORT (0)' },
    { name: 'sizeBytes', offset: 2, length: 8, kind: 'bytes', description: 'u64 export size in bytes' },
    { name: 'transmissionFlags', offset: 10, length: 2, kind: 'u16be', description: 'NBD_FLAG_* transmission flags' },
  ],
});

/** S: NBD_REP_INFO data for NBD_INFO_BLOCK_SIZE. */
export const NBD_INFO_BLOCK_SIZE_DATA = defineLayout({
  name: 'nbd-info-block-size',
  size: 14,
  fill: 0,
  fields: [
    { name: 'infoType', offset: 0, length: 2, kind: 'u16be', description: 'NBD_INFO_BLOCK_SIZE (3)' },
    { name: 'minimumBytes', offset: 2, length: 4, kind: 'u32be', description: 'minimum block size' },
    { name: 'preferredBytes', offset: 6, length: 4, kind: 'u32be', description: 'preferred block size' },
    { name: 'maximumBytes', offset: 10, length: 4, kind: 'u32be', description: 'maximum payload size' },
  ],
});

/** C: transmission request header; WRITE carries `length` bytes of data after it. */
export const NBD_REQUEST = defineLayout({
  name: 'nbd-request',
  size: 28,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 4, kind: 'u32be', description: '0x25609513' },
    { name: 'commandFlags', offset: 4, length: 2, kind: 'u16be', description: 'NBD_CMD_FLAG_*' },
    { name: 'type', offset: 6, length: 2, kind: 'u16be', description: 'NBD_CMD_* request type' },
    { name: 'handle', offset: 8, length: 8, kind: 'bytes', description: 'opaque cookie echoed in the reply' },
    { name: 'offsetBytes', offset: 16, length: 8, kind: 'bytes', description: 'u64 byte offset in the export' },
    { name: 'length', offset: 24, length: 4, kind: 'u32be', description: 'u32 byte count' },
  ],
});

/** S: simple reply; a successful READ's data follows. */
export const NBD_SIMPLE_REPLY = defineLayout({
  name: 'nbd-simple-reply',
  size: 16,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 4, kind: 'u32be', description: '0x67446698' },
    { name: 'error', offset: 4, length: 4, kind: 'u32be', description: 'errno value, 0 for success' },
    { name: 'handle', offset: 8, length: 8, kind: 'bytes', description: 'the request handle' },
  ],
});

/** S: structured reply chunk header; `length` bytes of chunk payload follow. */
export const NBD_STRUCTURED_REPLY = defineLayout({
  name: 'nbd-structured-reply',
  size: 20,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 4, kind: 'u32be', description: '0x668e33ef' },
    { name: 'flags', offset: 4, length: 2, kind: 'u16be', description: 'NBD_REPLY_FLAG_DONE (bit 0) on the last chunk of a reply' },
    { name: 'type', offset: 6, length: 2, kind: 'u16be', description: 'NBD_REPLY_TYPE_* chunk type' },
    { name: 'handle', offset: 8, length: 8, kind: 'bytes', description: 'the request handle' },
    { name: 'length', offset: 16, length: 4, kind: 'u32be', description: 'bytes of chunk payload that follow' },
  ],
});

/** Every NBD layout, in the order native-layout/nbd-layouts.json lists them. */
export const NBD_LAYOUTS: readonly Layout[] = [
  NBD_GREETING,
  NBD_CLIENT_FLAGS,
  NBD_OPTION_REQUEST,
  NBD_OPTION_REPLY,
  NBD_EXPORT_NAME_REPLY,
  NBD_INFO_EXPORT_DATA,
  NBD_INFO_BLOCK_SIZE_DATA,
  NBD_REQUEST,
  NBD_SIMPLE_REPLY,
  NBD_STRUCTURED_REPLY,
];

/** Reads an 8-byte big-endian unsigned integer as a bigint (never loses precision). */
export function readU64(raw: Uint8Array): bigint {
  assert(raw.length === 8, `a u64 field has 8 bytes (got ${raw.length})`);
  return Buffer.from(raw.buffer, raw.byteOffset, 8).readBigUInt64BE(0);
}

/** Encodes a non-negative safe integer as 8 big-endian bytes. */
export function u64Bytes(value: number): Buffer {
  assertInteger(value, 'u64 value');
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}
