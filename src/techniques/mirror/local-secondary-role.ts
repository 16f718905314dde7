/**
 * The role file of a local secondary as its mirror keeps it (issue 20; the file and the guard that
 * reads it are in volume/): PROTECTED from create to split and from rejoin on, SPLIT in between,
 * gone when the mirror is removed. While the mirror holds the secondary open it also holds its
 * image lock; the role file is what still refuses writes when it does not (a link lost, the server
 * down), and what records the writes made to the split secondary.
 */
import { rmSync } from 'node:fs';
import { SecondaryRoleFile, secondaryRolePath } from '../../volume/secondary-role-file.js';

/** Marks the image a protected secondary of the primary tagged `primaryTag` (a new, empty record). */
export function protectLocalSecondary(path: string, unitCount: number, primaryTag: Buffer): void {
  SecondaryRoleFile.create(path, unitCount, 'protected', primaryTag);
}

/**
 * Whose secondary the image is, by its role file: 'none' without one (nobody's: it was never made
 * a secondary, or was released since), else the primary's tag (all zero when not known).
 */
export function localSecondaryOwner(path: string, unitCount: number): Buffer | 'none' {
  return SecondaryRoleFile.exists(path) ? SecondaryRoleFile.open(path, unitCount).primary : 'none';
}

/** The secondary is split: writes to it are allowed, and recorded. */
export function splitLocalSecondary(path: string, unitCount: number, primaryTag: Buffer): void {
  if (!SecondaryRoleFile.exists(path)) SecondaryRoleFile.create(path, unitCount, 'split', primaryTag);
  else SecondaryRoleFile.open(path, unitCount).setState('split');
}

/**
 * The units written on the secondary's side since its split, for the rejoin to resend. A secondary
 * without a role file (mirrored before issue 20) has no record: none.
 */
export function localSecondaryWrites(path: string, unitCount: number): number[] {
  return SecondaryRoleFile.exists(path) ? SecondaryRoleFile.open(path, unitCount).writtenUnits() : [];
}

/** The rejoin has the record durably on the primary's side: protected again, the record forgotten. */
export function reprotectLocalSecondary(path: string, unitCount: number, primaryTag: Buffer): void {
  protectLocalSecondary(path, unitCount, primaryTag);
}

/** The mirror is removed: the image is a plain volume again. */
export function releaseLocalSecondary(path: string): void {
  rmSync(secondaryRolePath(path), { force: true });
}
