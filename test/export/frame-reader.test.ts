/**
 * Unit layer for the bounded incremental frame reader: frames split across and coalesced within
 * 'data' events come out exact, the socket is paused at the read-ahead mark and resumed when the
 * parser catches up, a peek sees buffered bytes without consuming them, and a closed stream
 * rejects pending and later reads.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameReader, FrameReaderClosed } from '../../src/export/frame-reader.js';

class FakeSocket extends EventEmitter {
  paused = false;
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
}

function setup(readAheadBytes = 64): { fake: FakeSocket; reader: FrameReader } {
  const fake = new FakeSocket();
  return { fake, reader: new FrameReader(fake as unknown as Socket, { readAheadBytes, maxFrameBytes: 1024 }) };
}

describe('FrameReader', () => {
  it('reassembles a frame delivered one byte per event', async () => {
    const { fake, reader } = setup();
    const pending = reader.readExact(5);
    for (const byte of [1, 2, 3, 4, 5]) fake.emit('data', Buffer.from([byte]));
    expect([...(await pending)]).toEqual([1, 2, 3, 4, 5]);
  });

  it('splits coalesced frames in one event', async () => {
    const { fake, reader } = setup();
    fake.emit('data', Buffer.from([1, 2, 3, 4, 5, 6, 7]));
    expect([...(await reader.readExact(3))]).toEqual([1, 2, 3]);
    expect([...(await reader.readExact(4))]).toEqual([4, 5, 6, 7]);
    expect(reader.buffered).toBe(0);
  });

  it('peeks at buffered bytes across chunks without consuming them', async () => {
    const { fake, reader } = setup();
    fake.emit('data', Buffer.from([1, 2, 3]));
    fake.emit('data', Buffer.from([4]));
    fake.emit('data', Buffer.from([5, 6, 7]));
    expect([...(reader.peek(2, 4) ?? [])]).toEqual([3, 4, 5, 6]);
    expect([...(reader.peek(0, 7) ?? [])]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(reader.peek(5, 3)).toBeUndefined();
    expect(reader.buffered).toBe(7);
    expect([...(await reader.readExact(7))]).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('takes buffered bytes as views of the chunks, in order, without copying them', async () => {
    const { fake, reader } = setup(8);
    const chunks = [Buffer.from([1, 2, 3]), Buffer.from([4]), Buffer.from([5, 6, 7, 8, 9, 10])];
    for (const chunk of chunks) fake.emit('data', chunk);
    expect(fake.paused).toBe(true);
    const views = reader.takeBuffered(6).views;
    expect(views.map((v) => [...v])).toEqual([[1, 2, 3], [4], [5, 6]]);
    // Views, not copies: the same memory as the socket's chunks.
    expect(views[0]?.buffer).toBe(chunks[0]?.buffer);
    expect(views[2]?.buffer).toBe(chunks[2]?.buffer);
    expect(reader.buffered).toBe(4);
    expect(fake.paused).toBe(false);
    expect(reader.takeBuffered(0).views).toEqual([]);
    expect([...(await reader.readExact(4))]).toEqual([7, 8, 9, 10]);
    expect(() => reader.takeBuffered(1)).toThrow();
  });

  it('pauses at the read-ahead mark and resumes when consumed', async () => {
    const { fake, reader } = setup(64);
    fake.emit('data', Buffer.alloc(100));
    expect(fake.paused).toBe(true);
    await reader.readExact(50);
    expect(fake.paused).toBe(false);
  });

  it('keeps reading past the mark while a larger frame is pending', async () => {
    const { fake, reader } = setup(64);
    const pending = reader.readExact(200);
    fake.emit('data', Buffer.alloc(100));
    expect(fake.paused).toBe(false);
    fake.emit('data', Buffer.alloc(150));
    expect((await pending).length).toBe(200);
    expect(reader.buffered).toBe(50);
  });

  it('rejects a pending read when the peer ends, but serves what is buffered first', async () => {
    const { fake, reader } = setup();
    fake.emit('data', Buffer.from([9, 9]));
    fake.emit('end');
    expect((await reader.readExact(2)).length).toBe(2);
    await expect(reader.readExact(1)).rejects.toBeInstanceOf(FrameReaderClosed);
    const { fake: other, reader: waiting } = setup();
    const pending = waiting.readExact(4);
    other.emit('error', new Error('reset'));
    await expect(pending).rejects.toThrow(/socket error: reset/);
  });
});
