/**
 * Layer: unit. The NBD connection's buffer pool (src/export/buffer-pool.ts): a buffer given back is
 * handed out again for a request of its size class, and what the pool keeps never passes its bound,
 * whatever sizes a client asks for.
 */
import { describe, expect, it } from 'vitest';
import { BUFFER_CLASS_BYTES, BufferPool } from '../../src/export/buffer-pool.js';

describe('BufferPool', () => {
  it('hands a given-back buffer out again for a request of the same size class', () => {
    const pool = new BufferPool(8 * BUFFER_CLASS_BYTES);
    const first = pool.take(256 * 1024 + 28);
    expect(first.length).toBe(5 * BUFFER_CLASS_BYTES);
    pool.give(first);
    expect(pool.retained).toBe(first.length);
    expect(pool.take(256 * 1024 + 1)).toBe(first);
    expect(pool.retained).toBe(0);
    // Another class gets a buffer of its own.
    expect(pool.take(10).length).toBe(BUFFER_CLASS_BYTES);
  });

  it('keeps no more than its bound, whatever sizes come back', () => {
    const bound = 8 * BUFFER_CLASS_BYTES;
    const pool = new BufferPool(bound);
    const taken = Array.from({ length: 40 }, (_, i) => pool.take(1 + i * 37_000));
    for (const buffer of taken) {
      pool.give(buffer);
      expect(pool.retained).toBeLessThanOrEqual(bound);
    }
    // A buffer larger than the bound is never kept.
    pool.give(pool.take(2 * bound));
    expect(pool.retained).toBeLessThanOrEqual(bound);
  });
});
