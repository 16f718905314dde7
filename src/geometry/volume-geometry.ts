/**
 * The shape of one volume: a CKD volume is cylinders × heads tracks of one family; an FBA volume is
 * a count of 512-byte blocks. Both are addressed by a flat unit index (a track or a block), which is
 * what interceptors, the copy engine and the NBD export see.
 */
import { UsageError } from '../errors/snaptape-error.js';
import { CKD_MODELS, FBA_BLOCK_BYTES, MAX_CKD_CYLINDERS, familyByName, type CkdFamily } from './device-types.js';

export interface CkdGeometry {
  readonly kind: 'ckd';
  readonly family: CkdFamily;
  /** "3390-3" for a named model of that size, else "3390" (custom cylinder count). */
  readonly typeName: string;
  readonly cylinders: number;
  readonly heads: number;
  readonly trackCount: number;
  readonly trackSlotBytes: number;
}

export interface FbaGeometry {
  readonly kind: 'fba';
  readonly typeName: 'fba';
  readonly blockCount: number;
  readonly blockBytes: number;
}

export type VolumeGeometry = CkdGeometry | FbaGeometry;

export function ckdGeometry(family: CkdFamily, cylinders: number): CkdGeometry {
  if (!Number.isInteger(cylinders) || cylinders < 1 || cylinders > MAX_CKD_CYLINDERS) {
    throw new UsageError(`Cannot make a ${family.family} geometry: ${cylinders} cylinders is outside 1..${MAX_CKD_CYLINDERS}`);
  }
  const model = CKD_MODELS.find((m) => m.family === family && m.cylinders === cylinders);
  return {
    kind: 'ckd',
    family,
    typeName: model?.name ?? family.family,
    cylinders,
    heads: family.heads,
    trackCount: cylinders * family.heads,
    trackSlotBytes: family.trackSlotBytes,
  };
}

export function fbaGeometry(blockCount: number): FbaGeometry {
  if (!Number.isInteger(blockCount) || blockCount < 2) {
    throw new UsageError(`Cannot make an FBA geometry: ${blockCount} blocks (need at least 2: block 1 holds VOL1)`);
  }
  return { kind: 'fba', typeName: 'fba', blockCount, blockBytes: FBA_BLOCK_BYTES };
}

/**
 * Parses a user's device type: "3390-3", "3380-K", "3390" (needs cylinders), or "fba" (needs blocks).
 * `cylinders` overrides a model's cylinder count.
 */
export function parseGeometry(type: string, options: { cylinders?: number; blocks?: number }): VolumeGeometry {
  const normalized = type.trim().toUpperCase();
  if (normalized === 'FBA' || normalized === '3370' || normalized === '9336') {
    if (options.blocks === undefined) throw new UsageError(`Cannot make an FBA volume: --blocks N is required`);
    return fbaGeometry(options.blocks);
  }
  const model = CKD_MODELS.find((m) => m.name.toUpperCase() === normalized);
  if (model) return ckdGeometry(model.family, options.cylinders ?? model.cylinders);
  const family = familyByName(normalized);
  if (family) {
    if (options.cylinders === undefined) {
      const models = CKD_MODELS.filter((m) => m.family === family)
        .map((m) => m.name)
        .join(', ');
      throw new UsageError(`Cannot make a ${family.family} volume: give a model (${models}) or --cyls N`);
    }
    return ckdGeometry(family, options.cylinders);
  }
  const known = [...CKD_MODELS.map((m) => m.name), '3390', '3380', 'fba'].join(', ');
  throw new UsageError(`Cannot make a volume of type "${type}": known types are ${known}`);
}

/** Number of addressable units (tracks or blocks). */
export function unitCount(geometry: VolumeGeometry): number {
  return geometry.kind === 'ckd' ? geometry.trackCount : geometry.blockCount;
}

/** Bytes of one unit's slot in the image (a track slot or a block). */
export function unitSlotBytes(geometry: VolumeGeometry): number {
  return geometry.kind === 'ckd' ? geometry.trackSlotBytes : geometry.blockBytes;
}

/** Nominal capacity in bytes, as sold: tracks × R1 max, or blocks × 512. */
export function nominalSizeBytes(geometry: VolumeGeometry): number {
  return geometry.kind === 'ckd' ? geometry.trackCount * geometry.family.r1MaxBytes : geometry.blockCount * geometry.blockBytes;
}
