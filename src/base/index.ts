/**
 * The face of base/: small shared helpers: assertions, file I/O (file-io.ts), EBCDIC, field
 * tables, logging, PRNG. It re-exports what other folders use; a module inside base/ imports its
 * neighbours directly.
 */
export { assert, assertInteger } from './assert.js';
export { OutputLimitError, decompressBounded } from './bounded-decompress.js';
export { EBCDIC_SPACE, decodeEbcdic, decodeEbcdicTrimmed, encodeEbcdic, encodeEbcdicPadded } from './ebcdic.js';
export {
  bytes,
  decodeFields,
  defineLayout,
  encodeFields,
  field,
  num,
  str,
  type FieldKind,
  type FieldSpec,
  type FieldValue,
  type Layout,
} from './field-table.js';
export { readAtMost, readFully, writeFully, writevFully } from './file-io.js';
export { LOG_EVENTS, createEventLogger, type EventLogger } from './log.js';
export { Prng } from './prng.js';
export { OWNER_SOCKET_MODE, groupIdOf, listenOnUnixSocket, removeSocketFile } from './unix-socket-file.js';
