/**
 * Server side of fixed newstyle negotiation ("Newstyle negotiation", "Option types" in proto.md):
 * the greeting, the client flags, and one handler per option. Options decide nothing about
 * sockets; each returns an outcome the connection acts on.
 *
 * Supported: EXPORT_NAME, ABORT, LIST, INFO and GO (with NBD_INFO_EXPORT, NBD_INFO_NAME and
 * NBD_INFO_BLOCK_SIZE), STRUCTURED_REPLY, LIST_META_CONTEXT and SET_META_CONTEXT (the contexts an
 * export's backend offers, nbd-meta-context.ts), and STARTTLS when the server has TLS keys. Every
 * other option gets NBD_REP_ERR_UNSUP.
 *
 * Structured replies and the selected contexts are per connection (`NegotiationState`): the meta
 * context options are refused (NBD_REP_ERR_INVALID) before STRUCTURED_REPLY, and a selection holds
 * only for the export it was made for; a GO or EXPORT_NAME of another export selects none.
 *
 * TLS ("TLS support" in proto.md), with the context's `tls`:
 *   off       STARTTLS is unsupported (NBD_REP_ERR_UNSUP); everything else as above;
 *   required  forced TLS: only STARTTLS and ABORT are answered; every other option gets
 *             NBD_REP_ERR_TLS_REQD, and EXPORT_NAME (which has no error reply) closes;
 *   active    the connection is TLS already; a second STARTTLS is NBD_REP_ERR_INVALID.
 *
 * Invariant: an option's data is fully read before it is handled, so the stream stays framed
 * whatever the handler decides.
 */
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { NbdProtocolError } from '../errors/snaptape-error.js';
import type { NbdExportBackend } from './nbd-backend.js';
import { matchContexts, type MetaContextSource } from './nbd-meta-context.js';
import { decodeMirrorLinkRequest, encodeWrittenUnits, NBD_OPT_SNAPTAPE_MIRROR_LINK, type MirrorLinkGrant } from './mirror-link-option.js';
import {
  EXPORT_NAME_ZERO_PAD_BYTES,
  MAX_NAME_BYTES,
  MAX_REQUEST_PAYLOAD_BYTES,
  MINIMUM_BLOCK_BYTES,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_IHAVEOPT,
  NBD_KNOWN_CLIENT_FLAGS,
  NBD_MAGIC,
  NBD_REPLY_MAGIC,
  MAX_SELECTED_CONTEXTS,
  NbdInfo,
  NbdOption,
  NbdReply,
  PREFERRED_BLOCK_BYTES,
} from './nbd-constants.js';
import {
  NBD_CLIENT_FLAGS,
  NBD_EXPORT_NAME_REPLY,
  NBD_GREETING,
  NBD_INFO_BLOCK_SIZE_DATA,
  NBD_INFO_EXPORT_DATA,
  NBD_OPTION_REPLY,
  NBD_OPTION_REQUEST,
  u64Bytes,
} from './nbd-layouts.js';

/** What the connection does after an option. */
export type NegotiationOutcome =
  | { readonly kind: 'continue' }
  | { readonly kind: 'transmit'; readonly backend: NbdExportBackend; readonly agreed: TransmissionAgreement }
  /** STARTTLS was ACKed: the connection upgrades its socket to TLS before reading on. */
  | { readonly kind: 'starttls' }
  /** A mirror's link was granted the export: GO of that export on this connection serves the grant's backend. */
  | { readonly kind: 'mirror-link'; readonly grant: MirrorLinkGrant<NbdExportBackend> }
  | { readonly kind: 'close'; readonly reason: string };

/** What the handshake agreed for the transmission phase. */
export interface TransmissionAgreement {
  readonly structuredReplies: boolean;
  /** The selected contexts; context id i + 1 is `contexts[i]`. */
  readonly contexts: readonly MetaContextSource[];
}

/** What options have agreed so far on one connection; handlers update it. */
export interface NegotiationState {
  structuredReplies: boolean;
  /** The last SET_META_CONTEXT: for which export, and what it selected. */
  selection: { readonly backend: NbdExportBackend; readonly contexts: readonly MetaContextSource[] } | undefined;
}

export function newNegotiationState(): NegotiationState {
  return { structuredReplies: false, selection: undefined };
}

function agreementFor(state: NegotiationState, backend: NbdExportBackend): TransmissionAgreement {
  const contexts = state.selection?.backend === backend ? state.selection.contexts : [];
  return { structuredReplies: state.structuredReplies, contexts };
}

export interface OptionRequest {
  readonly option: number;
  readonly dataLength: number;
}

/** The handshake flags this server sends. */
export const SERVER_HANDSHAKE_FLAGS = NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES;

export function encodeGreeting(): Buffer {
  return encodeFields(NBD_GREETING, { nbdMagic: NBD_MAGIC, ihaveopt: NBD_IHAVEOPT, handshakeFlags: SERVER_HANDSHAKE_FLAGS });
}

/** Parses the client flags; unknown bits are a protocol error (the spec says: disconnect). */
export function decodeClientFlags(raw: Buffer): number {
  const flags = num(decodeFields(NBD_CLIENT_FLAGS, raw), 'clientFlags');
  if ((flags & ~NBD_KNOWN_CLIENT_FLAGS) !== 0) {
    throw new NbdProtocolError(`Cannot negotiate: client flags 0x${flags.toString(16)} set unknown bits`, { clientFlags: flags });
  }
  return flags;
}

/** Parses an option request header; a bad magic is a protocol error. */
export function decodeOptionRequest(raw: Buffer): OptionRequest {
  const values = decodeFields(NBD_OPTION_REQUEST, raw);
  const magic = values['magic'];
  if (!(magic instanceof Uint8Array) || !NBD_IHAVEOPT.equals(magic)) {
    throw new NbdProtocolError('Cannot negotiate: option request does not start with IHAVEOPT', {});
  }
  return { option: num(values, 'option'), dataLength: num(values, 'dataLength') };
}

export function encodeOptionReply(option: number, replyType: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const header = encodeFields(NBD_OPTION_REPLY, { magic: NBD_REPLY_MAGIC, option, replyType, dataLength: data.length });
  return Buffer.concat([header, data]);
}

/** Longest text of an NBD_REP_ERR_POLICY reply for a held export. */
const MAX_HELD_REASON_CHARS = 512;

/** Transmission flags for an export: what the backend can do, and nothing else. */
export function transmissionFlagsFor(backend: NbdExportBackend): number {
  let flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_CAN_MULTI_CONN;
  if (backend.readOnly) flags |= NBD_FLAG_READ_ONLY;
  else {
    flags |= NBD_FLAG_SEND_WRITE_ZEROES;
    if (backend.canTrim && backend.trim !== undefined) flags |= NBD_FLAG_SEND_TRIM;
  }
  return flags;
}

const NO_SUCH_EXPORT = 'the server has no export of that name';

/** The exports a server offers, looked up by name; "" means the first export. */
export interface ExportDirectory {
  readonly exports: readonly NbdExportBackend[];
}

export function findExport(directory: ExportDirectory, name: string): NbdExportBackend | undefined {
  const exact = directory.exports.find((backend) => backend.name === name);
  if (exact !== undefined) return exact;
  return name === '' ? directory.exports[0] : undefined;
}

/** Where the connection stands with TLS (see the module comment). */
export type NegotiationTls = 'off' | 'required' | 'active';

/** Everything a handler may need: the exports, the client's flags, TLS, and a way to send bytes. */
export interface NegotiationContext {
  readonly directory: ExportDirectory;
  readonly clientFlags: number;
  readonly tls: NegotiationTls;
  readonly state: NegotiationState;
  /** The export as a mirror's link writes it, once this connection was granted it. */
  readonly linkBackend?: NbdExportBackend;
  send(bytes: Buffer): void;
  /** Tells the server an export was refused to this client, and why (for its events: the client gets only a reply code). */
  refused(exportName: string, reason: string): void;
}

/** Handles one option whose data has been read in full. */
export function handleOption(ctx: NegotiationContext, request: OptionRequest, data: Buffer): NegotiationOutcome | Promise<NegotiationOutcome> {
  if (request.option === NbdOption.STARTTLS) return handleStartTls(ctx, data);
  if (ctx.tls === 'required' && request.option !== NbdOption.ABORT) {
    // Spec: NBD_OPT_EXPORT_NAME cannot carry an error, so the server closes instead.
    if (request.option === NbdOption.EXPORT_NAME) return { kind: 'close', reason: 'client sent NBD_OPT_EXPORT_NAME before STARTTLS' };
    ctx.send(encodeOptionReply(request.option, NbdReply.ERR_TLS_REQD));
    return { kind: 'continue' };
  }
  switch (request.option) {
    case NbdOption.EXPORT_NAME:
      return handleExportName(ctx, data);
    case NbdOption.ABORT:
      ctx.send(encodeOptionReply(request.option, NbdReply.ACK));
      return { kind: 'close', reason: 'client sent NBD_OPT_ABORT' };
    case NbdOption.LIST:
      return handleList(ctx, request.option, data);
    case NbdOption.INFO:
    case NbdOption.GO:
      return handleInfoOrGo(ctx, request.option, data);
    case NbdOption.STRUCTURED_REPLY:
      ctx.send(encodeOptionReply(request.option, data.length === 0 ? NbdReply.ACK : NbdReply.ERR_INVALID));
      if (data.length === 0) ctx.state.structuredReplies = true;
      return { kind: 'continue' };
    case NbdOption.LIST_META_CONTEXT:
    case NbdOption.SET_META_CONTEXT:
      return handleMetaContext(ctx, request.option, data);
    case NBD_OPT_SNAPTAPE_MIRROR_LINK:
      return handleMirrorLink(ctx, data);
    default:
      ctx.send(encodeOptionReply(request.option, NbdReply.ERR_UNSUP));
      return { kind: 'continue' };
  }
}

function handleStartTls(ctx: NegotiationContext, data: Buffer): NegotiationOutcome {
  if (ctx.tls === 'off') {
    ctx.send(encodeOptionReply(NbdOption.STARTTLS, NbdReply.ERR_UNSUP));
    return { kind: 'continue' };
  }
  if (ctx.tls === 'active' || data.length !== 0) {
    ctx.send(encodeOptionReply(NbdOption.STARTTLS, NbdReply.ERR_INVALID));
    return { kind: 'continue' };
  }
  ctx.send(encodeOptionReply(NbdOption.STARTTLS, NbdReply.ACK));
  return { kind: 'starttls' };
}

function handleExportName(ctx: NegotiationContext, data: Buffer): NegotiationOutcome {
  const name = data.toString('utf8');
  const backend = data.length <= MAX_NAME_BYTES ? findExport(ctx.directory, name) : undefined;
  // Spec: an unknown name to NBD_OPT_EXPORT_NAME can only be answered by closing the connection.
  if (backend === undefined) {
    ctx.refused(name, NO_SUCH_EXPORT);
    return { kind: 'close', reason: `client asked for unknown export '${name.slice(0, 64)}'` };
  }
  if (backend.heldReason !== undefined) {
    ctx.refused(backend.name, backend.heldReason);
    return { kind: 'close', reason: `client asked for held export '${backend.name}': ${backend.heldReason}` };
  }
  const reply = encodeFields(NBD_EXPORT_NAME_REPLY, { sizeBytes: u64Bytes(backend.sizeBytes), transmissionFlags: transmissionFlagsFor(backend) });
  const noZeroes = (ctx.clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0;
  ctx.send(noZeroes ? reply : Buffer.concat([reply, Buffer.alloc(EXPORT_NAME_ZERO_PAD_BYTES)]));
  return { kind: 'transmit', backend, agreed: agreementFor(ctx.state, backend) };
}

function handleList(ctx: NegotiationContext, option: number, data: Buffer): NegotiationOutcome {
  if (data.length !== 0) {
    ctx.send(encodeOptionReply(option, NbdReply.ERR_INVALID));
    return { kind: 'continue' };
  }
  for (const backend of ctx.directory.exports) {
    const name = Buffer.from(backend.name, 'utf8');
    const entry = Buffer.alloc(4 + name.length);
    entry.writeUInt32BE(name.length, 0);
    name.copy(entry, 4);
    ctx.send(encodeOptionReply(option, NbdReply.SERVER, entry));
  }
  ctx.send(encodeOptionReply(option, NbdReply.ACK));
  return { kind: 'continue' };
}

interface InfoRequest {
  readonly name: string;
  readonly infoTypes: readonly number[];
}

/** Option data of INFO/GO: u32 name length, name, u16 count, count × u16 info types. */
function parseInfoRequest(data: Buffer): InfoRequest | undefined {
  if (data.length < 4) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (nameLength > MAX_NAME_BYTES || 4 + nameLength + 2 > data.length) return undefined;
  const name = data.toString('utf8', 4, 4 + nameLength);
  const count = data.readUInt16BE(4 + nameLength);
  const listAt = 4 + nameLength + 2;
  if (data.length !== listAt + 2 * count) return undefined;
  const infoTypes: number[] = [];
  for (let i = 0; i < count; i++) infoTypes.push(data.readUInt16BE(listAt + 2 * i));
  return { name, infoTypes };
}

/** snaptape's mirror-link option (mirror-link-option.ts). */
async function handleMirrorLink(ctx: NegotiationContext, data: Buffer): Promise<NegotiationOutcome> {
  const option = NBD_OPT_SNAPTAPE_MIRROR_LINK;
  const request = decodeMirrorLinkRequest(data);
  if (request === undefined) {
    ctx.send(encodeOptionReply(option, NbdReply.ERR_INVALID));
    return { kind: 'continue' };
  }
  const backend = findExport(ctx.directory, request.exportName);
  if (backend === undefined) {
    ctx.refused(request.exportName, NO_SUCH_EXPORT);
    ctx.send(encodeOptionReply(option, NbdReply.ERR_UNKNOWN));
    return { kind: 'continue' };
  }
  // A secondary its own server split for a backup refuses the link as it refuses GO, with the
  // reason the primary reads as that split (secondary-split.ts), and its guard stays as it is.
  if (refusedWhileHeld(ctx, option, backend)) return { kind: 'continue' };
  let grant: MirrorLinkGrant<NbdExportBackend>;
  try {
    if (backend.mirrorLink === undefined) throw new Error('it cannot be a mirror secondary');
    // Awaited: a grant that names units to resend waits for the export's writes in flight.
    grant = await backend.mirrorLink(request.mode);
  } catch (error) {
    const why = `export '${backend.name}' refused the mirror link: ${error instanceof Error ? error.message : String(error)}`;
    ctx.refused(backend.name, why);
    ctx.send(encodeOptionReply(option, NbdReply.ERR_POLICY, Buffer.from(why.slice(0, 1024), 'utf8')));
    return { kind: 'continue' };
  }
  const reply = request.mode === 'protect' || request.mode === 'forget' ? encodeWrittenUnits(grant.unitCount, grant.writtenUnits) : Buffer.alloc(0);
  ctx.send(encodeOptionReply(option, NbdReply.ACK, reply));
  return { kind: 'mirror-link', grant };
}

/** A held export (a split mirror secondary) is refused with NBD_REP_ERR_POLICY; its message tells a snaptape mirror why. */
function refusedWhileHeld(ctx: NegotiationContext, option: number, backend: NbdExportBackend): boolean {
  if (backend.heldReason === undefined) return false;
  ctx.refused(backend.name, backend.heldReason);
  ctx.send(encodeOptionReply(option, NbdReply.ERR_POLICY, Buffer.from(backend.heldReason.slice(0, MAX_HELD_REASON_CHARS), 'utf8')));
  return true;
}

function handleInfoOrGo(ctx: NegotiationContext, option: number, data: Buffer): NegotiationOutcome {
  const request = parseInfoRequest(data);
  if (request === undefined) {
    ctx.send(encodeOptionReply(option, NbdReply.ERR_INVALID));
    return { kind: 'continue' };
  }
  const backend = ctx.linkBackend !== undefined && ctx.linkBackend.name === request.name ? ctx.linkBackend : findExport(ctx.directory, request.name);
  if (backend === undefined) {
    ctx.refused(request.name, NO_SUCH_EXPORT);
    ctx.send(encodeOptionReply(option, NbdReply.ERR_UNKNOWN));
    return { kind: 'continue' };
  }
  if (refusedWhileHeld(ctx, option, backend)) return { kind: 'continue' };
  const flags = transmissionFlagsFor(backend);
  ctx.send(
    encodeOptionReply(
      option,
      NbdReply.INFO,
      encodeFields(NBD_INFO_EXPORT_DATA, { infoType: NbdInfo.EXPORT, sizeBytes: u64Bytes(backend.sizeBytes), transmissionFlags: flags }),
    ),
  );
  // The spec lets a server send block sizes unrequested; we always do, so no client exceeds our maximum.
  ctx.send(
    encodeOptionReply(
      option,
      NbdReply.INFO,
      encodeFields(NBD_INFO_BLOCK_SIZE_DATA, {
        infoType: NbdInfo.BLOCK_SIZE,
        minimumBytes: MINIMUM_BLOCK_BYTES,
        preferredBytes: PREFERRED_BLOCK_BYTES,
        maximumBytes: MAX_REQUEST_PAYLOAD_BYTES,
      }),
    ),
  );
  if (request.infoTypes.includes(NbdInfo.NAME)) {
    const name = Buffer.from(backend.name, 'utf8');
    const info = Buffer.alloc(2 + name.length);
    info.writeUInt16BE(NbdInfo.NAME, 0);
    name.copy(info, 2);
    ctx.send(encodeOptionReply(option, NbdReply.INFO, info));
  }
  ctx.send(encodeOptionReply(option, NbdReply.ACK));
  return option === NbdOption.GO ? { kind: 'transmit', backend, agreed: agreementFor(ctx.state, backend) } : { kind: 'continue' };
}

interface MetaContextRequest {
  readonly exportName: string;
  readonly queries: readonly string[];
}

/**
 * Option data of LIST/SET_META_CONTEXT: u32 name length, export name, u32 query count, then each
 * query as u32 length and string. Undefined when malformed: a length past the data, a string over
 * MAX_NAME_BYTES, a count the data cannot hold (so a huge count costs nothing), or bytes left over.
 */
function parseMetaContextRequest(data: Buffer): MetaContextRequest | undefined {
  let at = 0;
  const string = (): string | undefined => {
    if (at + 4 > data.length) return undefined;
    const length = data.readUInt32BE(at);
    if (length > MAX_NAME_BYTES || at + 4 + length > data.length) return undefined;
    const text = data.toString('utf8', at + 4, at + 4 + length);
    at += 4 + length;
    return text;
  };
  const exportName = string();
  if (exportName === undefined || at + 4 > data.length) return undefined;
  const count = data.readUInt32BE(at);
  at += 4;
  if (count > (data.length - at) / 4) return undefined;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const query = string();
    if (query === undefined) return undefined;
    queries.push(query);
  }
  return at === data.length ? { exportName, queries } : undefined;
}

function encodeMetaContextReply(option: number, contextId: number, name: string): Buffer {
  const text = Buffer.from(name, 'utf8');
  const data = Buffer.alloc(4 + text.length);
  data.writeUInt32BE(contextId, 0);
  text.copy(data, 4);
  return encodeOptionReply(option, NbdReply.META_CONTEXT, data);
}

/** LIST answers what the queries name (context id 0); SET replaces the selection and numbers it from 1. */
function handleMetaContext(ctx: NegotiationContext, option: number, data: Buffer): NegotiationOutcome {
  const request = parseMetaContextRequest(data);
  if (request === undefined || !ctx.state.structuredReplies) {
    ctx.send(encodeOptionReply(option, NbdReply.ERR_INVALID));
    return { kind: 'continue' };
  }
  const backend = findExport(ctx.directory, request.exportName);
  if (backend === undefined) {
    ctx.refused(request.exportName, NO_SUCH_EXPORT);
    ctx.send(encodeOptionReply(option, NbdReply.ERR_UNKNOWN));
    return { kind: 'continue' };
  }
  const listing = option === NbdOption.LIST_META_CONTEXT;
  const chosen = matchContexts(backend.metaContexts?.() ?? [], request.queries, listing);
  if (listing) {
    for (const source of chosen) ctx.send(encodeMetaContextReply(option, 0, source.name));
  } else {
    if (chosen.length > MAX_SELECTED_CONTEXTS) {
      ctx.state.selection = undefined;
      ctx.send(encodeOptionReply(option, NbdReply.ERR_TOO_BIG));
      return { kind: 'continue' };
    }
    ctx.state.selection = { backend, contexts: chosen };
    chosen.forEach((source, i) => ctx.send(encodeMetaContextReply(option, i + 1, source.name)));
  }
  ctx.send(encodeOptionReply(option, NbdReply.ACK));
  return { kind: 'continue' };
}
