/**
 * Layer: property. Independence and space of a pointer snapshot (issue 6 acceptance): over 50
 * randomised runs, after a whole-volume snapshot, random whole-track and raw writes go to the
 * source and the target; each volume must equal its own shadow model (one Buffer per slot) byte
 * for byte, so no write shows through to the other. The pool must grow by exactly one slot per
 * (volume, track) first written after the snapshot, less one where both volumes wrote a track that
 * was shared (the second writer owns the old slot alone and writes it in place).
 * Replay a failure with SNAPTAPE_SEED=<seed printed>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { checkSubsystem, poolUsage } from '../../src/subsystem/subsystem-check.js';
import { UNALLOCATED_SLOT } from '../../src/subsystem/subsystem-layouts.js';
import type { MappedVolumeBackend } from '../../src/subsystem/mapped-volume-backend.js';
import { defineSnapshot, executeSnapshot } from '../../src/techniques/snapshot/snapshot-protocol.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { DATA_FIRST_TRACK, expectedSlot, makeSubsystem, readAllSlots } from './helpers/subsystem-fixtures.js';

const RUNS = 50;
/** Bytes a raw write may start at inside a slot: past HA and R0, so R0 stays standard. */
const RAW_MIN_OFFSET = 21;

const opArb = fc.record({
  volume: fc.integer({ min: 0, max: 1 }),
  track: fc.integer({ min: DATA_FIRST_TRACK, max: 29 }),
  kind: fc.constantFrom('records' as const, 'raw' as const),
  length: fc.integer({ min: 1, max: 3000 }),
  offset: fc.integer({ min: RAW_MIN_OFFSET, max: 8000 }),
  byte: fc.integer({ min: 1, max: 255 }),
});

describe('snapshot independence (property, 50 runs)', () => {
  it('writes to source and target never show through; the pool grows by the tracks written only', () => {
    const seed = fcSeed('snapshot-independence');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.array(opArb, { minLength: 1, maxLength: 30 }), (fixtureSeed, ops) => {
        const dir = makeTempDir();
        try {
          const { sub, source } = makeSubsystem(dir.path, { seed: fixtureSeed });
          const target = `${sub}/TGT`;
          const before = poolUsage(sub).referencedSlots;
          const defined = defineSnapshot(source, target, { volser: 'TGT001' });
          executeSnapshot(defined.token);
          const afterSnapshot = poolUsage(sub).referencedSlots;
          // The metadata update rewrites track 0 (VOL1) and the VTOC track: nothing else is copied.
          expect(afterSnapshot - before).toBeLessThanOrEqual(2);
          const volumes = [openVolume(source), openVolume(target)];
          try {
            const models = volumes.map(readAllSlots);
            for (let t = DATA_FIRST_TRACK; t < 30; t++) expect(models[1]![t]!.equals(models[0]![t]!), `track ${t} equal at the snapshot`).toBe(true);
            const shared = new Set<number>();
            const d0 = (volumes[0]!.imageBackend as MappedVolumeBackend).directory;
            const d1 = (volumes[1]!.imageBackend as MappedVolumeBackend).directory;
            for (let t = 0; t < 30; t++) if (d0.slots[t] !== UNALLOCATED_SLOT && d0.slots[t] === d1.slots[t]) shared.add(t);
            const written = [new Set<number>(), new Set<number>()];
            for (const op of ops) {
              const volume = volumes[op.volume]!;
              const model = models[op.volume]!;
              if (op.kind === 'records') {
                const records = [{ key: Buffer.alloc(0), data: Buffer.alloc(op.length, op.byte) }];
                volume.writeTrackRecords(op.track, records);
                model[op.track] = expectedSlot(volume.ckd, op.track, records);
              } else {
                const data = Buffer.alloc(op.length, op.byte);
                volume.writeFlat(op.track * volume.backend.slotBytes + op.offset, data);
                data.copy(model[op.track]!, op.offset);
              }
              written[op.volume]!.add(op.track);
              const other = 1 - op.volume;
              expect(
                volumes[other]!.backend.readUnit(op.track, volume.backend.slotBytes).equals(models[other]![op.track]!),
                `write to volume ${op.volume} track ${op.track} stays there`,
              ).toBe(true);
            }
            volumes.forEach((volume, v) =>
              readAllSlots(volume).forEach((slot, t) => expect(slot.equals(models[v]![t]!), `volume ${v} track ${t} equals its model`).toBe(true)),
            );
            let expectedNew = written[0]!.size + written[1]!.size;
            for (const t of written[0]!) if (written[1]!.has(t) && shared.has(t)) expectedNew--;
            volumes.forEach((v) => v.close());
            expect(poolUsage(sub).referencedSlots - afterSnapshot).toBe(expectedNew);
            expect(checkSubsystem(sub).clean).toBe(true);
          } finally {
            volumes.forEach((v) => v.close());
          }
        } finally {
          dir.cleanup();
        }
      }),
      { numRuns: RUNS, seed },
    );
  }, 120_000);
});
