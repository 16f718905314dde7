/**
 * Layer: unit. How a channel request becomes NBD requests (link-requests.ts): a sparse run of
 * tracks is one zero fill (from the first zero tail on, in chunks of at most 1 MiB) and a WRITE per
 * track's bytes; a descriptor alone, or a run with one zero tail, is a WRITE and a WRITE_ZEROES as
 * before. Whatever the plan, replaying it (fills first, then writes) over a slot image that held
 * other bytes gives every descriptor's bytes and zeros, as sending each descriptor alone would.
 */
import { describe, expect, it } from 'vitest';
import { ZERO_FILL_CHUNK_BYTES } from '../../src/export/nbd-constants.js';
import { planLinkRequests, type LinkDescriptor, type LinkRequestPlan } from '../../src/techniques/mirror/link-requests.js';
import { Prng } from './mirror-fixtures.js';

const SLOT = 56832;

/** Descriptors of consecutive units from `first`, each `used` bytes of data and the rest of its slot as a zero tail. */
function sparseRun(first: number, used: readonly number[]): LinkDescriptor[] {
  let offset = 0;
  return used.map((bytes, i) => {
    const d = { unit: first + i, dataOffset: offset, dataLength: bytes, zeroTail: SLOT - bytes };
    offset += bytes;
    return d;
  });
}

/** The export after `plan` runs over `before` (fills answered first), with the request's data bytes in `data`. */
function replay(plan: LinkRequestPlan, before: Buffer, data: Buffer): Buffer {
  const after = Buffer.from(before);
  for (const f of plan.fills) after.fill(0, f.offsetBytes, f.offsetBytes + f.length);
  for (const w of plan.writes) {
    if (w.kind === 'zeroes') after.fill(0, w.offsetBytes, w.offsetBytes + w.length);
    else data.copy(after, w.offsetBytes, w.dataOffset, w.dataOffset + w.length);
  }
  return after;
}

/** The export as each descriptor sent alone would leave it: its bytes, then zeros to its end. */
function expected(descriptors: readonly LinkDescriptor[], before: Buffer, data: Buffer): Buffer {
  const after = Buffer.from(before);
  for (const d of descriptors) {
    const at = d.unit * SLOT;
    data.copy(after, at, d.dataOffset, d.dataOffset + d.dataLength);
    after.fill(0, at + d.dataLength, at + d.dataLength + d.zeroTail);
  }
  return after;
}

describe('planLinkRequests', () => {
  it('sends a sparse cylinder as one zero fill and one WRITE per track', () => {
    const plan = planLinkRequests(sparseRun(30, new Array<number>(15).fill(8300)), SLOT);
    expect(plan.fills).toEqual([{ kind: 'zeroes', offsetBytes: 30 * SLOT + 8300, length: 15 * SLOT - 8300, dataOffset: 0 }]);
    expect(plan.writes.map((w) => [w.kind, w.offsetBytes, w.length])).toEqual(new Array(15).fill(0).map((_, i) => ['write', (30 + i) * SLOT, 8300]));
  });

  it('sends no WRITE for an empty track of a sparse run, and cuts a long fill in chunks', () => {
    const plan = planLinkRequests(sparseRun(0, [100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50]), SLOT);
    expect(plan.writes.map((w) => w.offsetBytes)).toEqual([0, 20 * SLOT]);
    expect(plan.fills.every((f) => f.length <= ZERO_FILL_CHUNK_BYTES)).toBe(true);
    expect(plan.fills[0]?.offsetBytes).toBe(100);
    expect(plan.fills.reduce((sum, f) => sum + f.length, 0)).toBe(21 * SLOT - 100);
  });

  it('keeps a lone unit, and a run with one zero tail, as a WRITE and a WRITE_ZEROES with no fill', () => {
    const whole = { unit: 3, dataOffset: 0, dataLength: SLOT, zeroTail: 0 };
    const tail = { unit: 4, dataOffset: SLOT, dataLength: 500, zeroTail: SLOT - 500 };
    const alone = { unit: 9, dataOffset: SLOT + 500, dataLength: 700, zeroTail: SLOT - 700 };
    const plan = planLinkRequests([whole, tail, alone], SLOT);
    expect(plan.fills).toEqual([]);
    expect(plan.writes.map((w) => [w.kind, w.offsetBytes, w.length])).toEqual([
      ['write', 3 * SLOT, SLOT],
      ['write', 4 * SLOT, 500],
      ['zeroes', 4 * SLOT + 500, SLOT - 500],
      ['write', 9 * SLOT, 700],
      ['zeroes', 9 * SLOT + 700, SLOT - 700],
    ]);
  });

  it('leaves the export as sending each descriptor alone would, over 200 random requests', () => {
    const prng = new Prng(20);
    const units = 40;
    for (let round = 0; round < 200; round++) {
      const descriptors: LinkDescriptor[] = [];
      let offset = 0;
      for (let unit = 0; unit < units; unit++) {
        if (prng.below(4) === 0) continue;
        // Whole slots (a dense track), a used prefix, or nothing used.
        const kind = prng.below(3);
        const used = kind === 0 ? SLOT : kind === 1 ? 1 + prng.below(SLOT - 1) : 0;
        descriptors.push({ unit, dataOffset: offset, dataLength: used, zeroTail: SLOT - used });
        offset += used;
      }
      const data = Buffer.alloc(Math.max(1, offset));
      for (let i = 0; i < data.length; i += 97) data[i] = 1 + (i % 251);
      const before = Buffer.alloc(units * SLOT, 0x5a);
      const plan = planLinkRequests(descriptors, SLOT);
      expect(replay(plan, before, data).equals(expected(descriptors, before, data))).toBe(true);
      // Fewer requests than one per data and one per tail, never more.
      const alone = descriptors.reduce((n, d) => n + (d.dataLength > 0 ? 1 : 0) + (d.zeroTail > 0 ? 1 : 0), 0);
      expect(plan.fills.length + plan.writes.length).toBeLessThanOrEqual(alone);
    }
  });
});
