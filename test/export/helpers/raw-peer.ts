/**
 * A raw TCP peer for malformed-input tests: sends arbitrary bytes and reads exact frames back,
 * and can walk a connection to the transmission phase by hand.
 */
import { connect, type Socket } from 'node:net';
import { encodeFields } from '../../../src/base/field-table.js';
import { NBD_IHAVEOPT, NBD_REQUEST_MAGIC, NbdOption } from '../../../src/export/nbd-constants.js';
import { NBD_OPTION_REQUEST, NBD_REQUEST, u64Bytes } from '../../../src/export/nbd-layouts.js';
import { FrameReader, FrameReaderClosed } from '../../../src/export/frame-reader.js';

export class RawPeer {
  readonly closed: Promise<void>;
  private constructor(
    readonly socket: Socket,
    readonly reader: FrameReader,
  ) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket, new FrameReader(socket, { readAheadBytes: 1 << 20, maxFrameBytes: 64 << 20 }));
  }

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  read(length: number): Promise<Buffer> {
    return this.reader.readExact(length);
  }

  /** Resolves true when the server closes the connection within `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([this.closed.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  /** Reads until the server closes; true when it closed (rather than sending more than `limit` bytes). */
  async drainsToClose(limit = 1 << 20): Promise<boolean> {
    try {
      for (let total = 0; total < limit; total++) await this.read(1);
      return false;
    } catch (error) {
      return error instanceof FrameReaderClosed;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Greeting, client flags (FIXED_NEWSTYLE|NO_ZEROES) and NBD_OPT_EXPORT_NAME; returns the 10-byte reply. */
  async enterTransmission(exportName: string): Promise<Buffer> {
    await this.read(18);
    this.send(Buffer.from('00000003', 'hex'));
    this.send(optionFrame(NbdOption.EXPORT_NAME, Buffer.from(exportName, 'utf8')));
    return this.read(10);
  }
}

export function optionFrame(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeFields(NBD_OPTION_REQUEST, { magic: NBD_IHAVEOPT, option, dataLength: data.length }), data]);
}

export function requestFrame(fields: { type: number; flags?: number; handle?: number; offsetBytes?: number; length?: number; magic?: number }): Buffer {
  const handle = Buffer.alloc(8);
  handle.writeUInt32BE(fields.handle ?? 1, 4);
  return encodeFields(NBD_REQUEST, {
    magic: fields.magic ?? NBD_REQUEST_MAGIC,
    commandFlags: fields.flags ?? 0,
    type: fields.type,
    handle,
    offsetBytes: u64Bytes(fields.offsetBytes ?? 0),
    length: fields.length ?? 0,
  });
}

/** Reads a 16-byte simple reply and returns its errno. */
export async function readReplyErrno(peer: RawPeer): Promise<number> {
  const reply = await peer.read(16);
  return reply.readUInt32BE(4);
}

/** Option data of LIST/SET_META_CONTEXT: u32 length and export name, u32 count, each query as u32 length and string. */
export function metaContextData(exportName: string, queries: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  const string = (text: string): void => {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  string(exportName);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length);
  parts.push(count);
  queries.forEach(string);
  return Buffer.concat(parts);
}
