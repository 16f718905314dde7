/**
 * Layers: scenario + shadow model. Proves that every write path of `Volume` goes through the
 * interceptor chain: the units the chain is told about are compared with the units whose bytes
 * actually changed in the image file (a byte diff of the whole file before/after), and a backend
 * wrapper checks that every single backend write happens inside a beforeWrite/afterWrite window
 * that names its unit. Also: stage order, afterWrite sees the new bytes, beforeWrite the old ones,
 * and a failing beforeWrite stops the host write.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { encodeTrack } from '../../src/ckd/track-codec.js';
import type { UnitLocation, ImageBackend } from '../../src/image/image-backend.js';
import { openImage } from '../../src/image/open-image.js';
import { Volume } from '../../src/volume/volume.js';
import { INTERCEPTOR_STAGES, type InterceptorStage, type WriteEvent, type WriteInterceptor } from '../../src/volume/write-interceptor.js';
import { allocateDataset, deleteDataset } from '../../src/vtoc/dataset-allocator.js';
import { RECFM_BITS } from '../../src/vtoc/dataset-attributes.js';
import { putDataset } from '../../src/vtoc/dataset-io.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const CKD_HEADER = 512;
const CKD_SLOT = 56832;
const FBA_BLOCK = 512;

/** A backend that reports every unit write before passing it on. */
class WatchedBackend implements ImageBackend {
  constructor(
    private readonly inner: ImageBackend,
    private readonly onWrite: (unit: number) => void,
  ) {}
  get path(): string {
    return this.inner.path;
  }
  get geometry() {
    return this.inner.geometry;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  get slotBytes(): number {
    return this.inner.slotBytes;
  }
  readUnit(unitIndex: number, lengthBytes: number): Buffer {
    return this.inner.readUnit(unitIndex, lengthBytes);
  }
  readUnits(firstUnit: number, unitCount: number): Buffer {
    return this.inner.readUnits(firstUnit, unitCount);
  }
  writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot?: number): void {
    this.onWrite(unitIndex);
    this.inner.writeUnit(unitIndex, data, offsetInSlot);
  }
  sync(): void {
    this.inner.sync();
  }
  close(): void {
    this.inner.close();
  }
  location(): UnitLocation {
    return this.inner.location();
  }
}

interface Observation {
  readonly events: WriteEvent[];
  /** Units named by beforeWrite events. */
  readonly seen: Set<number>;
  /** Units whose bytes differ between the file before and after. */
  readonly changed: Set<number>;
  /** Backend writes outside a chain window, or to a unit the window does not name. */
  readonly violations: string[];
  /** Events whose afterWrite did not see the final bytes of the units it was the last to touch. */
  readonly staleAfterWrites: string[];
  /** Events whose beforeWrite did not see the initial bytes of the units it was the first to touch. */
  readonly earlyBeforeWrites: string[];
}

function unitRange(e: { firstUnit: number; unitCount: number }): number[] {
  return Array.from({ length: e.unitCount }, (_, i) => e.firstUnit + i);
}

function readSlot(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Opens `path` with a watched backend and a recording interceptor, runs `action`, and diffs the file. */
function observe(path: string, kind: 'ckd' | 'fba', action: (volume: Volume) => void): Observation {
  const dataOffset = kind === 'ckd' ? CKD_HEADER : 0;
  const slot = kind === 'ckd' ? CKD_SLOT : FBA_BLOCK;
  const unitAt = (u: number): [number, number] => [dataOffset + u * slot, slot];
  const before = readFileSync(path);
  const events: WriteEvent[] = [];
  const violations: string[] = [];
  const windowStack: WriteEvent[] = [];
  // Bytes of each unit as seen (through a separate descriptor) at each hook.
  const atBefore: Array<Map<number, Buffer>> = [];
  const atAfter: Array<Map<number, Buffer>> = [];
  const snapshot = (e: WriteEvent): Map<number, Buffer> => new Map(unitRange(e).map((u) => [u, readSlot(path, ...unitAt(u))]));
  const recorder: WriteInterceptor = {
    name: 'recorder',
    stage: 'observer',
    beforeWrite(e) {
      events.push(e);
      windowStack.push(e);
      atBefore.push(snapshot(e));
    },
    afterWrite(e) {
      const top = windowStack.pop();
      if (top !== e) violations.push(`afterWrite of ${JSON.stringify(e)} does not close the open window`);
      atAfter.push(snapshot(e));
    },
  };
  const backend = new WatchedBackend(openImage(path), (unit) => {
    const open = windowStack[windowStack.length - 1];
    if (!open) violations.push(`backend write of unit ${unit} outside any interceptor window`);
    else if (unit < open.firstUnit || unit >= open.firstUnit + open.unitCount)
      violations.push(`backend write of unit ${unit} inside a window for units ${open.firstUnit}+${open.unitCount}`);
  });
  const volume = new Volume(backend);
  volume.addInterceptor(recorder);
  try {
    action(volume);
  } finally {
    volume.close();
  }
  const after = readFileSync(path);
  expect(after.length).toBe(before.length);
  expect(after.subarray(0, dataOffset).equals(before.subarray(0, dataOffset)), 'the device header is never written').toBe(true);
  const changed = new Set<number>();
  const unitTotal = (after.length - dataOffset) / slot;
  for (let u = 0; u < unitTotal; u++) {
    const [o, l] = unitAt(u);
    if (!after.subarray(o, o + l).equals(before.subarray(o, o + l))) changed.add(u);
  }
  const seen = new Set(events.flatMap(unitRange));
  // For each changed unit: the first event touching it saw the old bytes in beforeWrite, and the
  // last event touching it saw the final bytes in afterWrite.
  const staleAfterWrites: string[] = [];
  const earlyBeforeWrites: string[] = [];
  for (const u of changed) {
    const first = events.findIndex((e) => unitRange(e).includes(u));
    const last = events.length - 1 - [...events].reverse().findIndex((e) => unitRange(e).includes(u));
    if (first < 0) continue;
    const [o, l] = unitAt(u);
    if (!atBefore[first]?.get(u)?.equals(before.subarray(o, o + l))) earlyBeforeWrites.push(`unit ${u} event ${first}`);
    if (!atAfter[last]?.get(u)?.equals(after.subarray(o, o + l))) staleAfterWrites.push(`unit ${u} event ${last}`);
  }
  return { events, seen, changed, violations, staleAfterWrites, earlyBeforeWrites };
}

const sorted = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);

function expectClean(o: Observation): void {
  expect(o.violations).toEqual([]);
  expect(o.earlyBeforeWrites).toEqual([]);
  expect(o.staleAfterWrites).toEqual([]);
  expect(o.changed.size, 'the operation changed some bytes').toBeGreaterThan(0);
  // Every changed unit was announced to the chain.
  for (const u of o.changed) expect(o.seen.has(u), `changed unit ${u} was seen by the chain`).toBe(true);
}

let dir: TempDir;
let ckdPath: string;
let fbaPath: string;

beforeAll(() => {
  dir = makeTempDir();
  ckdPath = join(dir.path, 'chain.ckd');
  fbaPath = join(dir.path, 'chain.fba');
  createVolume(ckdPath, { type: '3390', cylinders: 10, volser: 'CHAIN1' }).close();
  createVolume(fbaPath, { type: 'fba', blocks: 400, volser: 'CHAINF' }).close();
});
afterAll(() => dir.cleanup());

const rec = (dl: number, fill: number) => ({ key: Buffer.alloc(0), data: Buffer.alloc(dl, fill) });

describe('every low-level write path goes through the chain (seen = changed)', () => {
  it('formatWrite (write R1.., erase the rest), and formatWrite after an existing record', () => {
    const o = observe(ckdPath, 'ckd', (v) => {
      v.formatWrite({ cylinder: 1, head: 2 }, 0, [rec(800, 0xc1), rec(800, 0xc2)]);
      v.formatWrite({ cylinder: 1, head: 2 }, 1, [rec(100, 0xc3)]);
    });
    expectClean(o);
    expect(o.events.map((e) => [e.kind, e.firstUnit, e.unitCount])).toEqual([
      ['format', 17, 1],
      ['format', 17, 1],
    ]);
    expect(sorted(o.seen)).toEqual(sorted(o.changed));
  });

  it('writeTrackRecords', () => {
    const o = observe(ckdPath, 'ckd', (v) => v.writeTrackRecords(20, [rec(4096, 0xd1), rec(4096, 0xd2), rec(0, 0)]));
    expectClean(o);
    expect(o.events.map((e) => e.kind)).toEqual(['format']);
    expect(sorted(o.seen)).toEqual([20]);
    expect(sorted(o.changed)).toEqual([20]);
  });

  it('updateRecord', () => {
    const o = observe(ckdPath, 'ckd', (v) => v.updateRecord({ cylinder: 1, head: 5, record: 2 }, Buffer.alloc(4096, 0xe2)));
    expectClean(o);
    expect(o.events.map((e) => [e.kind, e.firstUnit, e.unitCount])).toEqual([['update', 20, 1]]);
    expect(sorted(o.changed)).toEqual([20]);
  });

  it('writeTrackImages (a run of tracks as one write)', () => {
    const images = [30, 31, 32].map((t) =>
      encodeTrack({
        cchh: { cylinder: 2, head: t - 30 },
        r0Data: Buffer.alloc(8),
        records: [{ cylinder: 2, head: t - 30, record: 1, key: Buffer.alloc(0), data: Buffer.alloc(3000, t) }],
      }),
    );
    const o = observe(ckdPath, 'ckd', (v) => v.writeTrackImages(30, images));
    expectClean(o);
    expect(o.events.map((e) => [e.kind, e.firstUnit, e.unitCount])).toEqual([['track', 30, 3]]);
    expect(sorted(o.changed)).toEqual([30, 31, 32]);
  });

  it('writeFlat on CKD (raw bytes across a slot boundary)', () => {
    const o = observe(ckdPath, 'ckd', (v) => v.writeFlat(41 * CKD_SLOT - 10, Buffer.alloc(20, 0xab)));
    expectClean(o);
    expect(o.events.map((e) => [e.kind, e.firstUnit, e.unitCount])).toEqual([['raw', 40, 2]]);
    expect(sorted(o.changed)).toEqual([40, 41]);
    // Track 41's home address is now garbage: put proper empty tracks back for the tests below.
    const repair = new Volume(openImage(ckdPath));
    repair.writeTrackImages(
      40,
      [40, 41].map((t) => encodeTrack({ cchh: { cylinder: 2, head: t - 30 }, r0Data: Buffer.alloc(8), records: [] })),
    );
    repair.close();
  });

  it('writeBlocks on FBA', () => {
    const o = observe(fbaPath, 'fba', (v) => v.writeBlocks(5, Buffer.alloc(2 * FBA_BLOCK, 0x5a)));
    expectClean(o);
    expect(o.events.map((e) => [e.kind, e.firstUnit, e.unitCount])).toEqual([['blocks', 5, 2]]);
    expect(sorted(o.changed)).toEqual([5, 6]);
  });

  it('writeFlat on FBA (across a block boundary)', () => {
    const o = observe(fbaPath, 'fba', (v) => v.writeFlat(10 * FBA_BLOCK + 500, Buffer.alloc(30, 0x77)));
    expectClean(o);
    expect(o.events.map((e) => [e.kind, e.firstUnit, e.unitCount])).toEqual([['raw', 10, 2]]);
    expect(sorted(o.changed)).toEqual([10, 11]);
  });
});

describe('every high-level write path goes through the chain (changed ⊆ seen)', () => {
  it('alloc (creates the VTOC, formats the tracks, writes F1, F4, F5)', () => {
    const o = observe(ckdPath, 'ckd', (v) => {
      allocateDataset(v, { name: 'CHAIN.PS', tracks: 3, dsorg: 'PS', recfm: RECFM_BITS.F | RECFM_BITS.blocked, recordLength: 80, blockSize: 800 });
      allocateDataset(v, {
        name: 'CHAIN.PDS',
        cylinders: 1,
        dsorg: 'PO',
        recfm: RECFM_BITS.F | RECFM_BITS.blocked,
        recordLength: 80,
        blockSize: 3120,
        directoryBlocks: 5,
      });
    });
    expectClean(o);
    expect(o.changed.has(1), 'the VTOC track changed').toBe(true);
  });

  it('put (data tracks and the Format-1)', () => {
    const text = Buffer.from(Array.from({ length: 200 }, (_, i) => `LINE ${i}`).join('\n') + '\n');
    const o = observe(ckdPath, 'ckd', (v) => {
      putDataset(v, 'CHAIN.PS', text, { text: true });
    });
    expectClean(o);
  });

  it('delete (Format-1 to Format-0, F4 and F5 rewritten)', () => {
    const o = observe(ckdPath, 'ckd', (v) => deleteDataset(v, 'CHAIN.PDS'));
    expectClean(o);
    expect(sorted(o.changed)).toEqual([1]);
  });

  it('fill (whole-track images and DSCBs)', () => {
    const o = observe(ckdPath, 'ckd', (v) => {
      fillVolume(v, { seed: 7, percent: 30 });
    });
    expectClean(o);
    expect(o.changed.size).toBeGreaterThan(10);
  });
});

describe('chain order and failure', () => {
  function orderProbe(log: string[], name: string, stage: InterceptorStage): WriteInterceptor {
    return {
      name,
      stage,
      beforeWrite: () => {
        log.push(`before ${name}`);
      },
      afterWrite: () => {
        log.push(`after ${name}`);
      },
    };
  }

  it('beforeWrite runs in declared stage order (registration order within a stage), afterWrite in reverse', () => {
    const log: string[] = [];
    const volume = new Volume(openImage(ckdPath));
    try {
      // Register in reverse stage order, with two observers.
      for (const stage of [...INTERCEPTOR_STAGES].reverse()) volume.addInterceptor(orderProbe(log, stage, stage));
      volume.addInterceptor(orderProbe(log, 'observer-2', 'observer'));
      expect(volume.interceptorNames()).toEqual([...INTERCEPTOR_STAGES, 'observer-2']);
      volume.writeTrackRecords(50, [rec(10, 1)]);
    } finally {
      volume.close();
    }
    const expectedBefore = [...INTERCEPTOR_STAGES, 'observer-2'].map((n) => `before ${n}`);
    const expectedAfter = [...INTERCEPTOR_STAGES, 'observer-2'].reverse().map((n) => `after ${n}`);
    expect(log).toEqual([...expectedBefore, ...expectedAfter]);
  });

  it('a beforeWrite that throws fails the host write: no byte reaches the image, afterWrite is not called', () => {
    const before = readFileSync(ckdPath);
    const log: string[] = [];
    const volume = new Volume(openImage(ckdPath));
    try {
      volume.addInterceptor({
        name: 'cbw',
        stage: 'copy-before-write',
        beforeWrite: () => {
          throw new Error('copy failed');
        },
        afterWrite: () => {
          log.push('after cbw');
        },
      });
      volume.addInterceptor(orderProbe(log, 'obs', 'observer'));
      expect(() => volume.writeTrackRecords(51, [rec(10, 1)])).toThrow('copy failed');
      expect(() => volume.writeFlat(0, Buffer.alloc(4, 1))).toThrow('copy failed');
    } finally {
      volume.close();
    }
    expect(log).toEqual([]);
    expect(readFileSync(ckdPath).equals(before)).toBe(true);
  });
});
