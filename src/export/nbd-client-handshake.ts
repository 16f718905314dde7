/**
 * Client side of fixed newstyle negotiation: read the greeting, send the client flags, upgrade to
 * TLS-PSK with NBD_OPT_STARTTLS when credentials are given, and open one export with NBD_OPT_GO
 * (falling back to NBD_OPT_EXPORT_NAME when a server does not know GO). Structured replies are
 * never requested, so the transmission phase uses simple replies only.
 *
 * Invariant: every server reply is read as an exact frame of bounded size; anything unexpected
 * is an NbdProtocolError and the caller drops the connection.
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { NbdProtocolError } from '../errors/snaptape-error.js';
import {
  EXPORT_NAME_ZERO_PAD_BYTES,
  MAX_NAME_BYTES,
  MAX_OPTION_DATA_BYTES,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_IHAVEOPT,
  NBD_MAGIC,
  NBD_REP_FLAG_ERROR,
  NBD_REPLY_MAGIC,
  NbdInfo,
  NbdOption,
  NbdReply,
  MAX_REQUEST_PAYLOAD_BYTES,
  READ_AHEAD_BYTES,
} from './nbd-constants.js';
import {
  NBD_CLIENT_FLAGS,
  NBD_EXPORT_NAME_REPLY,
  NBD_GREETING,
  NBD_INFO_BLOCK_SIZE_DATA,
  NBD_INFO_EXPORT_DATA,
  NBD_OPTION_REPLY,
  NBD_OPTION_REQUEST,
  readU64,
} from './nbd-layouts.js';
import { FrameReader } from './frame-reader.js';
import { clientTlsOptions, type NbdTlsCredentials } from './nbd-tls.js';
import {
  decodeWrittenUnits,
  encodeMirrorLinkRequest,
  MAX_MIRROR_LINK_REPLY_BYTES,
  NBD_OPT_SNAPTAPE_MIRROR_LINK,
  type MirrorLinkMode,
} from './mirror-link-option.js';

/** NBD_REP_INFO replies we accept for one GO before calling the server broken. */
const MAX_INFO_REPLIES = 64;

export interface NbdBlockSize {
  readonly minimumBytes: number;
  readonly preferredBytes: number;
  readonly maximumBytes: number;
}

export interface NbdExportInfo {
  readonly exportName: string;
  readonly sizeBytes: number;
  readonly transmissionFlags: number;
  readonly readOnly: boolean;
  readonly canFlush: boolean;
  readonly canFua: boolean;
  readonly canTrim: boolean;
  readonly canWriteZeroes: boolean;
  readonly canMultiConn: boolean;
  readonly blockSize: NbdBlockSize | undefined;
}

function exportInfo(exportName: string, sizeBytes: bigint, flags: number, blockSize: NbdBlockSize | undefined): NbdExportInfo {
  if (sizeBytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NbdProtocolError(`Cannot open export '${exportName}': size ${sizeBytes} is beyond 2^53 bytes`, { exportName });
  }
  return {
    exportName,
    sizeBytes: Number(sizeBytes),
    transmissionFlags: flags,
    readOnly: (flags & NBD_FLAG_READ_ONLY) !== 0,
    canFlush: (flags & NBD_FLAG_SEND_FLUSH) !== 0,
    canFua: (flags & NBD_FLAG_SEND_FUA) !== 0,
    canTrim: (flags & NBD_FLAG_SEND_TRIM) !== 0,
    canWriteZeroes: (flags & NBD_FLAG_SEND_WRITE_ZEROES) !== 0,
    canMultiConn: (flags & NBD_FLAG_CAN_MULTI_CONN) !== 0,
    blockSize,
  };
}

function optionRequest(option: number, data: Buffer): Buffer {
  return Buffer.concat([encodeFields(NBD_OPTION_REQUEST, { magic: NBD_IHAVEOPT, option, dataLength: data.length }), data]);
}

/** The export, and the socket and reader to use from now on (the TLS ones after STARTTLS). */
export interface NbdHandshakeResult {
  readonly info: NbdExportInfo;
  readonly socket: Socket;
  readonly reader: FrameReader;
  /** With a mirror-link mode: the units the secondary says were written while it was split. */
  readonly mirrorLinkWrites: readonly number[];
}

/** Sends snaptape's mirror-link option (mirror-link-option.ts) and returns the units its ACK lists. */
async function requestMirrorLink(socket: Socket, reader: FrameReader, exportName: string, mode: MirrorLinkMode): Promise<number[]> {
  socket.write(optionRequest(NBD_OPT_SNAPTAPE_MIRROR_LINK, encodeMirrorLinkRequest(mode, exportName)));
  const header = decodeFields(NBD_OPTION_REPLY, await reader.readExact(NBD_OPTION_REPLY.size));
  const magic = header['magic'];
  const dataLength = num(header, 'dataLength');
  if (
    !(magic instanceof Uint8Array) ||
    !NBD_REPLY_MAGIC.equals(magic) ||
    num(header, 'option') !== NBD_OPT_SNAPTAPE_MIRROR_LINK ||
    dataLength > MAX_MIRROR_LINK_REPLY_BYTES
  ) {
    throw new NbdProtocolError(`Cannot open export '${exportName}' as a mirror link: malformed reply to the mirror-link option`, { exportName });
  }
  const data = await reader.readExact(dataLength);
  const replyType = num(header, 'replyType');
  if (replyType === NbdReply.ACK) return decodeWrittenUnits(data, exportName);
  const said = data
    .toString('utf8')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, MAX_SHOWN_REFUSAL_CHARS);
  const why = replyType === NbdReply.ERR_UNSUP ? 'the server cannot protect a mirror secondary (not a snaptape serve?)' : said;
  throw new NbdProtocolError(`Cannot open export '${exportName}' as a mirror link: ${why}`, { exportName, replyType, serverMessage: said });
}

/** Sends NBD_OPT_STARTTLS, waits for its ACK, and upgrades the connection to TLS-PSK. */
async function startTls(
  socket: Socket,
  reader: FrameReader,
  exportName: string,
  credentials: NbdTlsCredentials,
): Promise<{ socket: Socket; reader: FrameReader }> {
  socket.write(optionRequest(NbdOption.STARTTLS, Buffer.alloc(0)));
  const header = decodeFields(NBD_OPTION_REPLY, await reader.readExact(NBD_OPTION_REPLY.size));
  const magic = header['magic'];
  const dataLength = num(header, 'dataLength');
  if (!(magic instanceof Uint8Array) || !NBD_REPLY_MAGIC.equals(magic) || num(header, 'option') !== NbdOption.STARTTLS || dataLength > MAX_OPTION_DATA_BYTES) {
    throw new NbdProtocolError(`Cannot open export '${exportName}': malformed reply to NBD_OPT_STARTTLS`, { exportName });
  }
  await reader.readExact(dataLength);
  const replyType = num(header, 'replyType');
  if (replyType !== NbdReply.ACK) {
    throw new NbdProtocolError(
      `Cannot open export '${exportName}': the server refused NBD_OPT_STARTTLS (reply 0x${replyType.toString(16)}; does it have TLS keys?)`,
      { exportName, replyType },
    );
  }
  reader.detach();
  const tlsSocket = tlsConnect({ ...clientTlsOptions(credentials), socket });
  await new Promise<void>((resolve, reject) => {
    tlsSocket.once('secureConnect', () => resolve());
    tlsSocket.once('error', (error: Error) =>
      reject(new NbdProtocolError(`Cannot open export '${exportName}': TLS handshake failed: ${error.message}`, { exportName })),
    );
  });
  tlsSocket.setNoDelay(true);
  return { socket: tlsSocket, reader: new FrameReader(tlsSocket, { readAheadBytes: READ_AHEAD_BYTES, maxFrameBytes: MAX_REQUEST_PAYLOAD_BYTES }) };
}

/**
 * Runs the handshake on a connected socket; resolves once the export is in transmission. With
 * `tls`, the connection is upgraded first, and the result's socket and reader are the TLS ones.
 */
export async function clientHandshake(
  plainSocket: Socket,
  plainReader: FrameReader,
  exportName: string,
  tls?: NbdTlsCredentials,
  mirrorLink?: MirrorLinkMode,
): Promise<NbdHandshakeResult> {
  let socket = plainSocket;
  let reader = plainReader;
  const nameBytes = Buffer.from(exportName, 'utf8');
  if (nameBytes.length > MAX_NAME_BYTES) throw new NbdProtocolError(`Cannot open export: name is longer than ${MAX_NAME_BYTES} bytes`, {});
  const greeting = decodeFields(NBD_GREETING, await reader.readExact(NBD_GREETING.size));
  const nbdMagic = greeting['nbdMagic'];
  const ihaveopt = greeting['ihaveopt'];
  const handshakeFlags = num(greeting, 'handshakeFlags');
  if (!(nbdMagic instanceof Uint8Array) || !NBD_MAGIC.equals(nbdMagic) || !(ihaveopt instanceof Uint8Array) || !NBD_IHAVEOPT.equals(ihaveopt)) {
    throw new NbdProtocolError(`Cannot open export '${exportName}': the server is not a newstyle NBD server`, { exportName });
  }
  if ((handshakeFlags & NBD_FLAG_FIXED_NEWSTYLE) === 0) {
    throw new NbdProtocolError(`Cannot open export '${exportName}': the server does not speak fixed newstyle`, { exportName });
  }
  const noZeroes = (handshakeFlags & NBD_FLAG_NO_ZEROES) !== 0;
  const clientFlags = NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? NBD_FLAG_C_NO_ZEROES : 0);
  socket.write(encodeFields(NBD_CLIENT_FLAGS, { clientFlags }));
  if (tls !== undefined) ({ socket, reader } = await startTls(socket, reader, exportName, tls));
  const mirrorLinkWrites = mirrorLink === undefined ? [] : await requestMirrorLink(socket, reader, exportName, mirrorLink);
  const goData = Buffer.alloc(4 + nameBytes.length + 2 + 2);
  goData.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(goData, 4);
  goData.writeUInt16BE(1, 4 + nameBytes.length);
  goData.writeUInt16BE(NbdInfo.BLOCK_SIZE, 6 + nameBytes.length);
  socket.write(optionRequest(NbdOption.GO, goData));
  const info = await readGoReplies(reader, exportName);
  if (info !== 'unsupported') return { info, socket, reader, mirrorLinkWrites };
  socket.write(optionRequest(NbdOption.EXPORT_NAME, nameBytes));
  const reply = decodeFields(NBD_EXPORT_NAME_REPLY, await reader.readExact(NBD_EXPORT_NAME_REPLY.size));
  if (!noZeroes) await reader.readExact(EXPORT_NAME_ZERO_PAD_BYTES);
  const size = reply['sizeBytes'];
  if (!(size instanceof Uint8Array)) throw new NbdProtocolError('Cannot open export: malformed EXPORT_NAME reply', {});
  return { info: exportInfo(exportName, readU64(size), num(reply, 'transmissionFlags'), undefined), socket, reader, mirrorLinkWrites };
}

/** Longest part of a server's refusal message that an error shows. */
const MAX_SHOWN_REFUSAL_CHARS = 512;

async function readGoReplies(reader: FrameReader, exportName: string): Promise<NbdExportInfo | 'unsupported'> {
  let size: bigint | undefined;
  let flags = 0;
  let blockSize: NbdBlockSize | undefined;
  for (let count = 0; count < MAX_INFO_REPLIES; count++) {
    const header = decodeFields(NBD_OPTION_REPLY, await reader.readExact(NBD_OPTION_REPLY.size));
    const magic = header['magic'];
    const replyType = num(header, 'replyType');
    const dataLength = num(header, 'dataLength');
    if (!(magic instanceof Uint8Array) || !NBD_REPLY_MAGIC.equals(magic) || num(header, 'option') !== NbdOption.GO || dataLength > MAX_OPTION_DATA_BYTES) {
      throw new NbdProtocolError(`Cannot open export '${exportName}': malformed option reply`, { exportName });
    }
    const data = await reader.readExact(dataLength);
    if (replyType === NbdReply.ERR_UNSUP) return 'unsupported';
    if (replyType === NbdReply.ERR_TLS_REQD) {
      throw new NbdProtocolError(`Cannot open export '${exportName}': the server requires TLS (give TLS-PSK credentials)`, { exportName, replyType });
    }
    if ((replyType & NBD_REP_FLAG_ERROR) !== 0) {
      // The spec lets an error reply carry a message for humans; it is shown, bounded and printable.
      const said = data
        .toString('utf8')
        .replace(/[^\x20-\x7e]/g, '?')
        .slice(0, MAX_SHOWN_REFUSAL_CHARS);
      throw new NbdProtocolError(
        `Cannot open export '${exportName}': server refused NBD_OPT_GO (reply 0x${replyType.toString(16)})${said ? `: ${said}` : ''}`,
        {
          exportName,
          replyType,
          serverMessage: said,
        },
      );
    }
    if (replyType === NbdReply.ACK) {
      if (size === undefined) throw new NbdProtocolError(`Cannot open export '${exportName}': server sent no NBD_INFO_EXPORT`, { exportName });
      return exportInfo(exportName, size, flags, blockSize);
    }
    if (replyType !== NbdReply.INFO || data.length < 2) continue;
    const infoType = data.readUInt16BE(0);
    if (infoType === NbdInfo.EXPORT && data.length === NBD_INFO_EXPORT_DATA.size) {
      const values = decodeFields(NBD_INFO_EXPORT_DATA, data);
      const raw = values['sizeBytes'];
      if (raw instanceof Uint8Array) size = readU64(raw);
      flags = num(values, 'transmissionFlags');
    } else if (infoType === NbdInfo.BLOCK_SIZE && data.length === NBD_INFO_BLOCK_SIZE_DATA.size) {
      const values = decodeFields(NBD_INFO_BLOCK_SIZE_DATA, data);
      blockSize = { minimumBytes: num(values, 'minimumBytes'), preferredBytes: num(values, 'preferredBytes'), maximumBytes: num(values, 'maximumBytes') };
    }
  }
  throw new NbdProtocolError(`Cannot open export '${exportName}': more than ${MAX_INFO_REPLIES} replies to NBD_OPT_GO`, { exportName });
}
