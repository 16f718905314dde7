/**
 * Layer: unit. The owning thread's run source (RunUnitSource) over a real FBA image: a batch lands
 * in the buffer its sink offers (a mirror link's channel slot, so that posting the batch copies
 * nothing), laid out run after run from the offer's start; with no offer, or one too small, it lands
 * in the source's own buffer. Either way every unit holds the image's bytes. Where the source is
 * told each unit's used bytes (a size table), a sparse run reads only those: the rest of each slot
 * is zero by the table's promise, so it is filled with zeros, never read (no hole of the image is read
 * into the page cache); a dense run is still one read.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunUnitSource } from '../../src/engine/unit-ports.js';
import { createVolume } from '../../src/volume/open-volume.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const BLOCK = 512;
let dir: TempDir | undefined;
let volume: Volume | undefined;
afterEach(() => {
  volume?.close();
  volume = undefined;
  dir?.cleanup();
  dir = undefined;
});

/** An FBA volume whose block b (from 2 on) is filled with the byte b mod 251. */
function numberedVolume(): Volume {
  dir = makeTempDir('snaptape-run-source-');
  const v = createVolume(join(dir.path, 'v.fba'), { type: 'fba', blocks: 64, volser: 'RUN001' });
  for (let b = 2; b < 64; b++) v.writeBlocks(b, Buffer.alloc(BLOCK, b % 251));
  volume = v;
  return v;
}

function sourceOf(v: Volume, landing?: (bytes: number) => Buffer | undefined): RunUnitSource {
  return new RunUnitSource((first, into) => v.backend.readUnits(first, into.length / BLOCK).copy(into), BLOCK, landing ? { landing } : {});
}

const UNITS = [3, 4, 5, 9, 10, 20];

function expectImageBytes(payloads: readonly Buffer[]): void {
  expect(payloads).toHaveLength(UNITS.length);
  payloads.forEach((p, i) => expect(p.equals(Buffer.alloc(BLOCK, (UNITS[i] as number) % 251))).toBe(true));
}

describe('RunUnitSource', () => {
  it('reads a batch into the buffer its sink offers, run after run from its start', () => {
    const v = numberedVolume();
    const shared = Buffer.from(new SharedArrayBuffer(16 * BLOCK));
    const asked: number[] = [];
    const payloads = sourceOf(v, (bytes) => {
      asked.push(bytes);
      return shared.subarray(BLOCK, BLOCK + bytes);
    }).read(UNITS);
    expect(asked).toEqual([UNITS.length * BLOCK]);
    expectImageBytes(payloads);
    payloads.forEach((p, i) => {
      expect(p.buffer).toBe(shared.buffer);
      expect(p.byteOffset).toBe(BLOCK + i * BLOCK);
    });
    expect(shared.subarray(BLOCK, BLOCK + 2 * BLOCK).equals(Buffer.concat([Buffer.alloc(BLOCK, 3), Buffer.alloc(BLOCK, 4)]))).toBe(true);
  });

  it('reads into its own buffer when the sink offers none, or one too small', () => {
    const v = numberedVolume();
    const shared = Buffer.from(new SharedArrayBuffer(16 * BLOCK));
    for (const landing of [() => undefined, () => shared.subarray(0, 2 * BLOCK)]) {
      const payloads = sourceOf(v, landing).read(UNITS);
      expectImageBytes(payloads);
      for (const p of payloads) expect(p.buffer).not.toBe(shared.buffer);
    }
    expect(shared.equals(Buffer.alloc(16 * BLOCK))).toBe(true);
  });
});

describe('RunUnitSource told the used bytes', () => {
  const SLOT = 8192;
  /** A fake image of 16 slots: slot u is all (u + 1), and the reads it serves are recorded. */
  function recordingSource(used: (unit: number) => number): { source: RunUnitSource; reads: { first: number; bytes: number }[] } {
    const reads: { first: number; bytes: number }[] = [];
    const source = new RunUnitSource(
      (first, into) => {
        reads.push({ first, bytes: into.length });
        for (let at = 0; at < into.length; at++) into[at] = first + Math.floor(at / SLOT) + 1;
      },
      SLOT,
      { usedBytes: used },
    );
    return { source, reads };
  }

  it('reads only the used bytes of a sparse run, and gives zeros past them', () => {
    const used = (unit: number): number => (unit % 2 === 0 ? 100 : 0);
    const { source, reads } = recordingSource(used);
    const payloads = source.read([4, 5, 6, 7]);
    expect(reads).toEqual([
      { first: 4, bytes: 100 },
      { first: 6, bytes: 100 },
    ]);
    payloads.forEach((p, i) => {
      const unit = 4 + i;
      expect(p.length).toBe(SLOT);
      expect(p.subarray(0, used(unit)).equals(Buffer.alloc(used(unit), unit + 1))).toBe(true);
      expect(p.subarray(used(unit)).equals(Buffer.alloc(SLOT - used(unit)))).toBe(true);
    });
  });

  it('reads a dense run in one call, whole slots', () => {
    const { source, reads } = recordingSource(() => SLOT - 10);
    const payloads = source.read([4, 5, 6, 7]);
    expect(reads).toEqual([{ first: 4, bytes: 4 * SLOT }]);
    payloads.forEach((p, i) => expect(p.equals(Buffer.alloc(SLOT, 5 + i))).toBe(true));
  });
});
