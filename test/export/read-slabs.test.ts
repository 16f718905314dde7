/**
 * Layer: unit. The slabs an NBD server connection reads its socket into (src/export/read-slabs.ts):
 * the room for the next read never covers a byte still held, so bytes taken as views stay as they
 * were however many reads follow them; a slab comes back for reuse once nothing in it is held.
 */
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/export/buffer-pool.js';
import { FIRST_SLAB_BYTES, MIN_READ_ROOM_BYTES, READ_SLAB_BYTES, ReadSlabs, type ReadSlab } from '../../src/export/read-slabs.js';
import { SeededRandom } from './helpers/seeded-random.js';

describe('ReadSlabs', () => {
  it('keeps its small first slab while every read is consumed before the next, starting it again each time', () => {
    const slabs = new ReadSlabs(new BufferPool(8 * READ_SLAB_BYTES));
    const room = slabs.room();
    expect(room.length).toBe(FIRST_SLAB_BYTES);
    // Bounded: a few reads.
    for (let i = 0; i < 5; i++) {
      const read = slabs.landed(1000, slabs.room());
      slabs.release(read.slab, 1000);
      const again = slabs.room();
      expect(again.buffer).toBe(room.buffer);
      expect(again.byteOffset).toBe(room.byteOffset);
      expect(again.length).toBe(FIRST_SLAB_BYTES);
    }
  });

  it('leaves a slab with too little room for a full fresh one, and takes it back from the pool once released', () => {
    const pool = new BufferPool(8 * READ_SLAB_BYTES);
    const slabs = new ReadSlabs(pool);
    const first = slabs.room();
    const held = slabs.landed(1000, first);
    const full = slabs.room();
    expect(full.buffer).not.toBe(first.buffer);
    expect(full.length).toBe(READ_SLAB_BYTES);
    slabs.release(held.slab, 1000);
    expect(pool.retained).toBe(FIRST_SLAB_BYTES);
    // A full slab left with too little room goes the same way.
    const big = slabs.landed(READ_SLAB_BYTES - MIN_READ_ROOM_BYTES + 1, full);
    const next = slabs.room();
    expect(next.buffer).not.toBe(full.buffer);
    expect(next.length).toBe(READ_SLAB_BYTES);
    slabs.release(big.slab, big.bytes.length);
    expect(pool.retained).toBe(FIRST_SLAB_BYTES + READ_SLAB_BYTES);
    // The next full slab needed is that one again.
    slabs.landed(READ_SLAB_BYTES - MIN_READ_ROOM_BYTES + 1, next);
    expect(slabs.room().buffer).toBe(full.buffer);
  });

  it('refuses a read that did not land in the last room given', () => {
    const slabs = new ReadSlabs(new BufferPool(0));
    const room = slabs.room();
    expect(() => slabs.landed(10, room.subarray(5))).toThrow();
    expect(() => slabs.landed(room.length + 1, room)).toThrow();
  });

  it('never lets a read overwrite held bytes, over random reads and releases', () => {
    const random = new SeededRandom(22);
    const slabs = new ReadSlabs(new BufferPool(4 * READ_SLAB_BYTES));
    const held: { bytes: Buffer; slab: ReadSlab; copy: Buffer }[] = [];
    // Bounded: a fixed number of steps.
    for (let step = 0; step < 1500; step++) {
      if (held.length > 0 && (held.length >= 12 || random.int(3) === 0)) {
        const [one] = held.splice(random.int(held.length), 1);
        if (one === undefined) continue;
        slabs.release(one.slab, one.bytes.length);
        continue;
      }
      const room = slabs.room();
      expect(room.length).toBeGreaterThanOrEqual(MIN_READ_ROOM_BYTES);
      const length = 1 + random.int(Math.min(room.length, 300 * 1024));
      // The socket may write over the whole room it was given, not only the bytes it reports.
      room.fill(step % 251);
      const read = slabs.landed(length, room);
      held.push({ ...read, copy: Buffer.from(read.bytes) });
      for (const one of held) expect(one.bytes.equals(one.copy)).toBe(true);
    }
  });
});
