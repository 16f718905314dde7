/**
 * Layout layer: the NBD field tables agree with native-layout/nbd-layouts.json, and the encoders
 * produce the exact bytes proto.md gives (golden vectors written out by hand from the spec).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeFields, layoutToJson } from '../../src/base/field-table.js';
import { NBD_REQUEST_MAGIC, NbdCommand, NbdErrno, NbdOption, NbdReply } from '../../src/export/nbd-constants.js';
import { NBD_LAYOUTS, NBD_REQUEST, readU64, u64Bytes } from '../../src/export/nbd-layouts.js';
import { decodeClientFlags, decodeOptionRequest, encodeGreeting, encodeOptionReply } from '../../src/export/nbd-negotiation.js';
import { decodeRequest, encodeSimpleReply, frameRequest } from '../../src/export/nbd-transmission.js';
import { encodeBlockStatusChunk, encodeErrorChunk, encodeOffsetDataHeader } from '../../src/export/nbd-structured-reply.js';
import { NbdProtocolError } from '../../src/errors/snaptape-error.js';

const JSON_PATH = new URL('../../native-layout/nbd-layouts.json', import.meta.url);

describe('NBD layouts', () => {
  it('agree with native-layout/nbd-layouts.json', () => {
    const table = JSON.parse(readFileSync(JSON_PATH, 'utf8')) as { byteOrder: string; layouts: unknown[] };
    expect(table.byteOrder).toBe('big-endian');
    expect(table.layouts).toEqual(NBD_LAYOUTS.map(layoutToJson));
  });

  it('have the sizes proto.md gives', () => {
    const sizes = Object.fromEntries(NBD_LAYOUTS.map((layout) => [layout.name, layout.size]));
    expect(sizes).toEqual({
      'nbd-greeting': 18,
      'nbd-client-flags': 4,
      'nbd-option-request': 16,
      'nbd-option-reply': 20,
      'nbd-export-name-reply': 10,
      'nbd-info-export': 12,
      'nbd-info-block-size': 14,
      'nbd-request': 28,
      'nbd-simple-reply': 16,
      'nbd-structured-reply': 20,
    });
  });
});

describe('NBD golden vectors', () => {
  it('greeting is NBDMAGIC IHAVEOPT with FIXED_NEWSTYLE|NO_ZEROES', () => {
    expect(encodeGreeting().toString('hex')).toBe('4e42444d41474943' + '49484156454f5054' + '0003');
  });

  it('option reply ACK to GO', () => {
    expect(encodeOptionReply(NbdOption.GO, NbdReply.ACK).toString('hex')).toBe('0003e889045565a9' + '00000007' + '00000001' + '00000000');
  });

  it('request header decodes field by field', () => {
    const raw = Buffer.from('25609513' + '0001' + '0001' + '0102030405060708' + '0000000100000000' + '00010000', 'hex');
    const request = decodeRequest(raw);
    expect(request).toMatchObject({ magic: NBD_REQUEST_MAGIC, commandFlags: 1, type: NbdCommand.WRITE, offsetBytes: 0x1_0000_0000n, length: 65536 });
    expect(request.handle.toString('hex')).toBe('0102030405060708');
    expect(
      encodeFields(NBD_REQUEST, { magic: NBD_REQUEST_MAGIC, commandFlags: 1, type: 1, handle: request.handle, offsetBytes: u64Bytes(2 ** 32), length: 65536 }),
    ).toEqual(raw);
  });

  it('simple reply carries errno and handle', () => {
    expect(encodeSimpleReply(NbdErrno.EPERM, Buffer.from('0102030405060708', 'hex')).toString('hex')).toBe('67446698' + '00000001' + '0102030405060708');
  });

  it('structured chunks: block status, offset data and error, DONE on the last', () => {
    const handle = Buffer.from('0102030405060708', 'hex');
    expect(encodeBlockStatusChunk(handle, 1, [{ length: 512, flags: 3 }], true).toString('hex')).toBe(
      '668e33ef' + '0001' + '0005' + '0102030405060708' + '0000000c' + '00000001' + '00000200' + '00000003',
    );
    expect(encodeOffsetDataHeader(handle, 4096, 16).toString('hex')).toBe('668e33ef' + '0001' + '0001' + '0102030405060708' + '00000018' + '0000000000001000');
    expect(encodeErrorChunk(handle, NbdErrno.EINVAL, 'no').toString('hex')).toBe(
      '668e33ef' + '0001' + '8001' + '0102030405060708' + '00000008' + '00000016' + '0002' + '6e6f',
    );
    expect(encodeErrorChunk(handle, NbdErrno.EIO, 'x'.repeat(5000)).readUInt32BE(16)).toBe(6 + 256);
  });

  it('u64 helpers round-trip, and huge offsets stay exact as bigint', () => {
    expect(readU64(u64Bytes(Number.MAX_SAFE_INTEGER))).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    expect(readU64(Buffer.from('ffffffffffffffff', 'hex'))).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('rejects bad option magic, unknown client flags, and bad request magic', () => {
    expect(() => decodeOptionRequest(Buffer.alloc(16))).toThrow(NbdProtocolError);
    expect(() => decodeClientFlags(Buffer.from('00000004', 'hex'))).toThrow(/unknown bits/);
    expect(decodeClientFlags(Buffer.from('00000003', 'hex'))).toBe(3);
    expect(frameRequest(decodeRequest(Buffer.alloc(28))).kind).toBe('fatal');
  });
});
