/**
 * Structured replies ("Structured replies" in proto.md): the chunks a READ or a BLOCK_STATUS is
 * answered with once NBD_OPT_STRUCTURED_REPLY was agreed. A READ is one OFFSET_DATA chunk; a
 * BLOCK_STATUS one BLOCK_STATUS chunk per selected context; a failure of either one ERROR chunk.
 * The last chunk of a reply carries NBD_REPLY_FLAG_DONE.
 *
 * Invariant: every chunk's length field is exactly the bytes of payload that follow it.
 */
import { encodeFields } from '../base/field-table.js';
import { MAX_ERROR_MESSAGE_BYTES, NBD_REPLY_FLAG_DONE, NBD_STRUCTURED_REPLY_MAGIC, NbdReplyChunk } from './nbd-constants.js';
import { NBD_STRUCTURED_REPLY, u64Bytes } from './nbd-layouts.js';
import type { MetaContextExtent } from './nbd-meta-context.js';

function chunkHeader(handle: Buffer, type: number, done: boolean, length: number): Buffer {
  return encodeFields(NBD_STRUCTURED_REPLY, { magic: NBD_STRUCTURED_REPLY_MAGIC, flags: done ? NBD_REPLY_FLAG_DONE : 0, type, handle, length });
}

/** The header and offset of a READ's one data chunk; the data itself follows (sent as it is). */
export function encodeOffsetDataHeader(handle: Buffer, offsetBytes: number, dataBytes: number): Buffer {
  return Buffer.concat([chunkHeader(handle, NbdReplyChunk.OFFSET_DATA, true, 8 + dataBytes), u64Bytes(offsetBytes)]);
}

/** One context's extents: u32 context id, then u32 length and u32 flags per extent. */
export function encodeBlockStatusChunk(handle: Buffer, contextId: number, extents: readonly MetaContextExtent[], done: boolean): Buffer {
  const payload = Buffer.alloc(4 + 8 * extents.length);
  payload.writeUInt32BE(contextId, 0);
  extents.forEach((extent, i) => {
    payload.writeUInt32BE(extent.length, 4 + 8 * i);
    payload.writeUInt32BE(extent.flags >>> 0, 8 + 8 * i);
  });
  return Buffer.concat([chunkHeader(handle, NbdReplyChunk.BLOCK_STATUS, done, payload.length), payload]);
}

/** The final ERROR chunk: u32 errno, u16 message length, the message (cut to MAX_ERROR_MESSAGE_BYTES). */
export function encodeErrorChunk(handle: Buffer, errno: number, message: string): Buffer {
  let text = Buffer.from(message, 'utf8');
  if (text.length > MAX_ERROR_MESSAGE_BYTES) text = Buffer.from(text.toString('utf8', 0, MAX_ERROR_MESSAGE_BYTES).replace(/\uFFFD+$/, ''), 'utf8');
  const payload = Buffer.alloc(6 + text.length);
  payload.writeUInt32BE(errno, 0);
  payload.writeUInt16BE(text.length, 4);
  text.copy(payload, 6);
  return Buffer.concat([chunkHeader(handle, NbdReplyChunk.ERROR, true, payload.length), payload]);
}
