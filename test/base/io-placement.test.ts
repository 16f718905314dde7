/**
 * Layer: unit. Where a file's reads in flight run (src/base/io-placement.ts): in line while they
 * are fast, on the pool from the first slow one, back in line after enough fast reads on the pool;
 * a large read always on the pool. A fake clock makes each read as slow as the test says.
 */
import { describe, expect, it } from 'vitest';
import { INLINE_LIMIT_MS, INLINE_MAX_BYTES, POOL_RUNS_TO_RETURN, WRITE_INLINE_MAX_BYTES, IoPlacement } from '../../src/base/io-placement.js';

/** A placement on a clock that each read advances by the time the test gives it. */
function placementWithClock(maxInlineBytes?: number): { placement: IoPlacement; read: (ms: number, bytes?: number) => Promise<string> } {
  let clock = 0;
  const placement = new IoPlacement(() => clock, maxInlineBytes);
  const read = async (ms: number, bytes = 4096): Promise<string> => {
    let ran = '';
    await placement.run(
      bytes,
      () => {
        ran = 'inline';
        clock += ms;
      },
      async () => {
        ran = 'pool';
        await Promise.resolve();
        clock += ms;
      },
    );
    return ran;
  };
  return { placement, read };
}

describe('read placement', () => {
  it('runs reads in line while they are fast, and moves to the pool at the first slow one', async () => {
    const { placement, read } = placementWithClock();
    for (let i = 0; i < 50; i++) expect(await read(0.1)).toBe('inline');
    expect(await read(INLINE_LIMIT_MS + 5)).toBe('inline');
    expect(placement.current).toBe('pool');
    expect(await read(0.1)).toBe('pool');
    expect(placement.counts).toEqual({ inline: 51, pool: 1, movesToPool: 1 });
  });

  it('comes back in line after enough fast reads in a row on the pool; a slow one starts the count again', async () => {
    const { placement, read } = placementWithClock();
    placement.moveToPool();
    for (let i = 0; i < POOL_RUNS_TO_RETURN - 1; i++) expect(await read(0.5)).toBe('pool');
    expect(await read(INLINE_LIMIT_MS + 1)).toBe('pool');
    for (let i = 0; i < POOL_RUNS_TO_RETURN - 1; i++) expect(await read(0.5)).toBe('pool');
    expect(placement.current).toBe('pool');
    expect(await read(0.5)).toBe('pool');
    expect(placement.current).toBe('inline');
    expect(await read(0.5)).toBe('inline');
  });

  it('runs a read larger than the in-line maximum on the pool, and does not learn from it', async () => {
    const { placement, read } = placementWithClock();
    expect(await read(0.1, INLINE_MAX_BYTES + 1)).toBe('pool');
    expect(placement.current).toBe('inline');
    expect(await read(0.1, INLINE_MAX_BYTES)).toBe('inline');
    placement.moveToPool();
    for (let i = 0; i < POOL_RUNS_TO_RETURN; i++) await read(0.1, INLINE_MAX_BYTES + 1);
    expect(placement.current, 'large reads on the pool do not bring the small ones back in line').toBe('pool');
  });

  it("runs a small write in line, and one larger than the writes' in-line maximum on the pool", async () => {
    const { placement, read: write } = placementWithClock(WRITE_INLINE_MAX_BYTES);
    expect(await write(0.1, 8300)).toBe('inline');
    expect(await write(0.1, WRITE_INLINE_MAX_BYTES)).toBe('inline');
    expect(await write(0.1, WRITE_INLINE_MAX_BYTES + 1)).toBe('pool');
    expect(await write(INLINE_LIMIT_MS + 1, 4096)).toBe('inline');
    expect(placement.current, 'a small write that the dirty limit held back moves them to the pool').toBe('pool');
    expect(await write(0.1, 4096)).toBe('pool');
  });

  it('runs every one where it is fixed, whatever their time or size, until let go', async () => {
    const { placement, read } = placementWithClock();
    placement.fix('inline');
    expect(await read(INLINE_LIMIT_MS + 5, INLINE_MAX_BYTES + 1)).toBe('inline');
    placement.fix('pool');
    for (let i = 0; i < POOL_RUNS_TO_RETURN + 1; i++) expect(await read(0.1)).toBe('pool');
    placement.fix(undefined);
    for (let i = 0; i < POOL_RUNS_TO_RETURN; i++) expect(await read(0.1)).toBe('pool');
    expect(await read(0.1)).toBe('inline');
  });

  it('passes a failure of either way on to the caller', async () => {
    const placement = new IoPlacement();
    await expect(
      placement.run(
        1,
        () => {
          throw new Error('inline failed');
        },
        () => Promise.resolve(),
      ),
    ).rejects.toThrow('inline failed');
    placement.moveToPool();
    await expect(
      placement.run(
        1,
        () => undefined,
        () => Promise.reject(new Error('pool failed')),
      ),
    ).rejects.toThrow('pool failed');
  });
});
