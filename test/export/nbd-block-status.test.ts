/**
 * Structured replies and NBD_CMD_BLOCK_STATUS against real clients (nbdinfo, qemu-img, nbdcopy)
 * and a raw peer: `base:allocation` of a CKD volume (from its size table) and of an FBA volume (a
 * zero scan), a `snaptape:dirty:` context fed a real changed-track bitmap, and malformed
 * meta-context options and block-status requests, each answered with an NBD error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { dirtyTracksContext } from '../../src/export/dirty-tracks-context.js';
import {
  BLOCK_STATUS_MAX_UNITS,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_REPLY_FLAG_DONE,
  NBD_STRUCTURED_REPLY_MAGIC,
  NbdCommand,
  NbdErrno,
  NbdOption,
  NbdReply,
  NbdReplyChunk,
} from '../../src/export/nbd-constants.js';
import { createVolume } from '../../src/volume/open-volume.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runToolAsync } from './helpers/async-tool.js';
import { metaContextData, optionFrame, RawPeer, readReplyErrno, requestFrame } from './helpers/raw-peer.js';
import { SeededRandom } from './helpers/seeded-random.js';

interface MapEntry {
  readonly offset: number;
  readonly length: number;
  readonly type: number;
}

/** CKD image header bytes before track 0's slot (the export starts at track 0). */
const CKD_HEADER_BYTES = 512;
const CHANGED_TRACKS = [2, 3, 7, 29];

/** The extents a byte view should have: per unit, data up to its last non-zero byte, then hole+zero. */
function expectedCkdMap(view: Buffer, slotBytes: number): MapEntry[] {
  const out: MapEntry[] = [];
  const push = (offset: number, length: number, type: number): void => {
    if (length === 0) return;
    const last = out[out.length - 1];
    if (last && last.type === type) out[out.length - 1] = { ...last, length: last.length + length };
    else out.push({ offset, length, type });
  };
  for (let at = 0; at < view.length; at += slotBytes) {
    const slot = view.subarray(at, at + slotBytes);
    let used = slot.length;
    while (used > 0 && slot[used - 1] === 0) used--;
    push(at, used, 0);
    push(at + used, slotBytes - used, 3);
  }
  return out;
}

async function nbdMap(url: string, context?: string): Promise<MapEntry[]> {
  const result = await runToolAsync('nbdinfo', ['--json', context ? `--map=${context}` : '--map', url]);
  expect(result.status, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as MapEntry[]).map(({ offset, length, type }) => ({ offset, length, type }));
}

/** Reads option replies up to the ACK or an error; returns their types and META_CONTEXT names. */
async function optionReplies(peer: RawPeer): Promise<{ type: number; name?: string; id?: number }[]> {
  const out: { type: number; name?: string; id?: number }[] = [];
  for (;;) {
    const header = await peer.read(20);
    const type = header.readUInt32BE(12);
    const data = await peer.read(header.readUInt32BE(16));
    out.push(type === NbdReply.META_CONTEXT ? { type, id: data.readUInt32BE(0), name: data.toString('utf8', 4) } : { type });
    if (type !== NbdReply.META_CONTEXT) return out;
  }
}

/** One structured chunk: header fields and payload. */
async function readChunk(peer: RawPeer): Promise<{ magic: number; flags: number; type: number; payload: Buffer }> {
  const header = await peer.read(20);
  return { magic: header.readUInt32BE(0), flags: header.readUInt16BE(4), type: header.readUInt16BE(6), payload: await peer.read(header.readUInt32BE(16)) };
}

describe('NBD block status', () => {
  let dir: TempDir;
  let server: NbdServer;
  let ckd: Volume;
  let fba: Volume;
  let ckdUrl: string;
  let fbaUrl: string;
  let port: number;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-nbd-status-');
    const rng = new SeededRandom(23);
    ckd = createVolume(join(dir.path, 'ckd.ckd'), { type: '3390', cylinders: 3, volser: 'MAP001' });
    // Records of different sizes on some tracks: their used lengths differ from an empty track's.
    for (const track of [5, 6, 20, 44]) {
      const records = Array.from({ length: 1 + rng.int(4) }, () => ({ key: Buffer.alloc(0), data: rng.bytes(1 + rng.int(8000)) }));
      ckd.writeTrackRecords(track, records);
    }
    ckd.sync();
    fba = createVolume(join(dir.path, 'fba.fba'), { type: 'fba', blocks: 512, volser: 'MAP002' });
    for (let i = 0; i < 12; i++) {
      const block = 16 + rng.int(480);
      fba.writeBlocks(block, rng.bytes(512));
    }
    fba.sync();
    const ckdBackend = new VolumeBackend(ckd, { name: 'ckd' });
    const changed = new Uint8Array(ckd.unitCount);
    for (const t of CHANGED_TRACKS) changed[t] = 1;
    ckdBackend.addMetaContext(dirtyTracksContext('cp1', ckd.backend.slotBytes, { unitCount: changed.length, isChanged: (t) => changed[t] === 1 }));
    server = new NbdServer({ exports: [ckdBackend, new VolumeBackend(fba, { name: 'fba' })] });
    port = (await server.listen()).port;
    ckdUrl = `nbd://127.0.0.1:${port}/ckd`;
    fbaUrl = `nbd://127.0.0.1:${port}/fba`;
  });

  afterAll(async () => {
    await server.close();
    ckd.close();
    fba.close();
    dir.cleanup();
  });

  it('nbdinfo --map lists data and hole,zero extents that match a CKD image', async () => {
    const view = readFileSync(ckd.path).subarray(CKD_HEADER_BYTES);
    const map = await nbdMap(ckdUrl);
    expect(map).toEqual(expectedCkdMap(view, ckd.backend.slotBytes));
    for (const e of map.filter((m) => m.type & 2)) expect(view.subarray(e.offset, e.offset + e.length).every((b) => b === 0)).toBe(true);
  });

  it('nbdinfo --map of an FBA volume: zero granules are zero, the rest data', async () => {
    const view = readFileSync(fba.path);
    const map = await nbdMap(fbaUrl);
    expect(map.reduce((sum, e) => sum + e.length, 0)).toBe(view.length);
    for (const e of map) {
      const bytes = view.subarray(e.offset, e.offset + e.length);
      if (e.type === 2) expect(bytes.every((b) => b === 0)).toBe(true);
      else for (let at = 0; at < bytes.length; at += 4096) expect(bytes.subarray(at, at + 4096).some((b) => b !== 0)).toBe(true);
    }
    expect(map.some((e) => e.type === 2)).toBe(true);
    expect(map.some((e) => e.type === 0)).toBe(true);
  });

  it('qemu-img map over NBD agrees with nbdinfo', async () => {
    const result = await runToolAsync('qemu-img', ['map', '-f', 'raw', '--output=json', ckdUrl]);
    expect(result.status, result.stderr).toBe(0);
    const entries = JSON.parse(result.stdout) as { start: number; length: number; zero: boolean; data: boolean }[];
    const fromNbdinfo = await nbdMap(ckdUrl);
    expect(entries.map((e) => ({ offset: e.start, length: e.length, type: (e.data ? 0 : 1) | (e.zero ? 2 : 0) }))).toEqual(fromNbdinfo);
  });

  it('nbdcopy --allocated copies the volume byte for byte', async () => {
    const out = join(dir.path, 'copy.raw');
    const result = await runToolAsync('nbdcopy', ['--allocated', ckdUrl, out]);
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(ckd.path).subarray(CKD_HEADER_BYTES))).toBe(true);
  });

  it('the dirty context reports exactly the changed tracks', async () => {
    const map = await nbdMap(ckdUrl, 'snaptape:dirty:cp1');
    const slot = ckd.backend.slotBytes;
    const dirty = map.filter((e) => e.type === 1).flatMap((e) => Array.from({ length: e.length / slot }, (_, k) => e.offset / slot + k));
    expect(dirty).toEqual(CHANGED_TRACKS);
    expect(map.reduce((sum, e) => sum + e.length, 0)).toBe(ckd.flatSizeBytes);
  });

  it('lists contexts, selects known ones only, and answers REQ_ONE with one extent', async () => {
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('00000003', 'hex'));
    // Before STRUCTURED_REPLY the meta context options are invalid.
    peer.send(optionFrame(NbdOption.SET_META_CONTEXT, metaContextData('ckd', ['base:allocation'])));
    expect(await optionReplies(peer)).toEqual([{ type: NbdReply.ERR_INVALID }]);
    peer.send(optionFrame(NbdOption.STRUCTURED_REPLY));
    expect(await optionReplies(peer)).toEqual([{ type: NbdReply.ACK }]);
    peer.send(optionFrame(NbdOption.LIST_META_CONTEXT, metaContextData('ckd', [])));
    expect((await optionReplies(peer)).map((r) => r.name)).toEqual(['base:allocation', 'snaptape:dirty:cp1', undefined]);
    peer.send(optionFrame(NbdOption.LIST_META_CONTEXT, metaContextData('ckd', ['snaptape:dirty:'])));
    expect((await optionReplies(peer)).map((r) => r.name)).toEqual(['snaptape:dirty:cp1', undefined]);
    peer.send(optionFrame(NbdOption.SET_META_CONTEXT, metaContextData('ckd', ['qemu:dirty-bitmap:x', 'base:allocation', 'base:'])));
    expect(await optionReplies(peer)).toEqual([{ type: NbdReply.META_CONTEXT, id: 1, name: 'base:allocation' }, { type: NbdReply.ACK }]);
    peer.send(optionFrame(NbdOption.SET_META_CONTEXT, metaContextData('nope', ['base:allocation'])));
    expect(await optionReplies(peer)).toEqual([{ type: NbdReply.ERR_UNKNOWN }]);
    peer.send(optionFrame(NbdOption.EXPORT_NAME, Buffer.from('ckd')));
    await peer.read(10);
    peer.send(requestFrame({ type: NbdCommand.BLOCK_STATUS, flags: NBD_CMD_FLAG_REQ_ONE, offsetBytes: 0, length: ckd.flatSizeBytes }));
    const chunk = await readChunk(peer);
    expect([chunk.magic, chunk.type, chunk.flags]).toEqual([NBD_STRUCTURED_REPLY_MAGIC, NbdReplyChunk.BLOCK_STATUS, NBD_REPLY_FLAG_DONE]);
    expect(chunk.payload.length).toBe(12);
    expect([chunk.payload.readUInt32BE(0), chunk.payload.readUInt32BE(8)]).toEqual([1, 0]);
    // A structured READ: one OFFSET_DATA chunk with the bytes.
    peer.send(requestFrame({ type: NbdCommand.READ, offsetBytes: 100, length: 16 }));
    const read = await readChunk(peer);
    expect([read.type, read.flags]).toEqual([NbdReplyChunk.OFFSET_DATA, NBD_REPLY_FLAG_DONE]);
    expect(read.payload.subarray(8).equals(ckd.readFlat(100, 16))).toBe(true);
    // A structured READ past the end: one ERROR chunk with EINVAL, and the connection goes on.
    peer.send(requestFrame({ type: NbdCommand.READ, offsetBytes: ckd.flatSizeBytes, length: 16 }));
    const failedRead = await readChunk(peer);
    expect([failedRead.type, failedRead.flags, failedRead.payload.readUInt32BE(0)]).toEqual([NbdReplyChunk.ERROR, NBD_REPLY_FLAG_DONE, NbdErrno.EINVAL]);
    // Its message (u16 length, then the text) names the errno, the command and why, for the client's log.
    const messageBytes = failedRead.payload.readUInt16BE(4);
    expect(failedRead.payload.subarray(6, 6 + messageBytes).toString('utf8')).toBe('EINVAL on READ: the range ends past the end of the export');
    peer.send(requestFrame({ type: NbdCommand.READ, offsetBytes: 0, length: 8 }));
    expect((await readChunk(peer)).payload.subarray(8).equals(ckd.readFlat(0, 8))).toBe(true);
    peer.destroy();
  });

  it('malformed meta context options get NBD_REP_ERR_INVALID and negotiation goes on', async () => {
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('00000003', 'hex'));
    peer.send(optionFrame(NbdOption.STRUCTURED_REPLY, Buffer.from('x')));
    expect(await optionReplies(peer)).toEqual([{ type: NbdReply.ERR_INVALID }]);
    peer.send(optionFrame(NbdOption.STRUCTURED_REPLY));
    expect(await optionReplies(peer)).toEqual([{ type: NbdReply.ACK }]);
    const good = metaContextData('ckd', ['base:allocation']);
    const hugeCount = Buffer.from(good);
    hugeCount.writeUInt32BE(0xffff_ffff, 4 + 3);
    const longName = Buffer.from(good);
    longName.writeUInt32BE(0x7fff_ffff, 0);
    const longQuery = Buffer.from(good);
    longQuery.writeUInt32BE(100, 4 + 3 + 4);
    for (const data of [Buffer.alloc(0), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])]), hugeCount, longName, longQuery]) {
      for (const option of [NbdOption.LIST_META_CONTEXT, NbdOption.SET_META_CONTEXT]) {
        peer.send(optionFrame(option, data));
        expect(await optionReplies(peer)).toEqual([{ type: NbdReply.ERR_INVALID }]);
      }
    }
    // An option over the size limit ends this connection only.
    const tooBig = Buffer.alloc(20_000);
    peer.send(optionFrame(NbdOption.SET_META_CONTEXT, tooBig));
    expect(await peer.drainsToClose()).toBe(true);
  });

  it('block status without contexts, out of range, empty or with a bad flag gets an NBD error', async () => {
    const plain = await RawPeer.connect(port);
    await plain.enterTransmission('ckd');
    plain.send(requestFrame({ type: NbdCommand.BLOCK_STATUS, offsetBytes: 0, length: 512 }));
    expect(await readReplyErrno(plain)).toBe(NbdErrno.EINVAL);
    plain.destroy();

    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('00000003', 'hex'));
    peer.send(optionFrame(NbdOption.STRUCTURED_REPLY));
    await optionReplies(peer);
    peer.send(optionFrame(NbdOption.SET_META_CONTEXT, metaContextData('ckd', ['base:allocation', 'snaptape:dirty:cp1'])));
    expect((await optionReplies(peer)).map((r) => r.id)).toEqual([1, 2, undefined]);
    peer.send(optionFrame(NbdOption.EXPORT_NAME, Buffer.from('ckd')));
    await peer.read(10);
    const cases = [
      { offsetBytes: ckd.flatSizeBytes, length: 1 },
      { offsetBytes: 2 ** 52, length: 0xffff_ffff },
      { offsetBytes: 0, length: 0 },
      { offsetBytes: 0, length: 512, flags: 1 << 9 },
    ];
    for (const c of cases) {
      peer.send(requestFrame({ type: NbdCommand.BLOCK_STATUS, ...c }));
      const chunk = await readChunk(peer);
      expect([chunk.type, chunk.flags, chunk.payload.readUInt32BE(0)]).toEqual([NbdReplyChunk.ERROR, NBD_REPLY_FLAG_DONE, NbdErrno.EINVAL]);
    }
    // A huge length in range is answered in part, bounded, one chunk per context, DONE on the last.
    peer.send(requestFrame({ type: NbdCommand.BLOCK_STATUS, offsetBytes: 0, length: ckd.flatSizeBytes }));
    const first = await readChunk(peer);
    const second = await readChunk(peer);
    expect([first.payload.readUInt32BE(0), first.flags, second.payload.readUInt32BE(0), second.flags]).toEqual([1, 0, 2, NBD_REPLY_FLAG_DONE]);
    peer.destroy();
  });
});

describe('metadata context bounds', () => {
  it('a context looks at no more than BLOCK_STATUS_MAX_UNITS units per request, and keeps to maxExtents', () => {
    const clean = dirtyTracksContext('big', 512, { unitCount: 10_000_000, isChanged: () => false });
    expect(clean.extents(0, 0xffff_fe00, 4096)).toEqual([{ length: BLOCK_STATUS_MAX_UNITS * 512, flags: 0 }]);
    const striped = dirtyTracksContext('striped', 512, { unitCount: 1000, isChanged: (u) => u % 2 === 1 });
    expect(striped.extents(100, 4000, 1)).toEqual([{ length: 412, flags: 0 }]);
    expect(striped.extents(0, 512 * 1000, 3)).toEqual([
      { length: 512, flags: 0 },
      { length: 512, flags: 1 },
      { length: 512, flags: 0 },
    ]);
  });
});
