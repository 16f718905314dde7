/**
 * The role file of a local secondary as its mirror keeps it (issue 20; the file and the guard that
 * reads it are in volume/): PROTECTED from create to split and from rejoin on, SPLIT in between,
 * gone when the mirror is removed. While the mirror holds the secondary open it also holds its
 * image lock; the role file is what still refuses writes when it does not (a link lost, the server
 * down), and what records the writes made to the split secondary.
 */
import { rmSync } from 'node:fs';
import { SecondaryRoleFile, secondaryRolePath } from '../../volume/secondary-role-file.js';

/** Marks the image a protected secondary (a new, empty record). */
export function protectLocalSecondary(path: string, unitCount: number): void {
  SecondaryRoleFile.create(path, unitCount, 'protected');
}

/**
 * True when the image carries a secondary's role file: it was made some mirror's secondary and not
 * released since. An image without one is nobody's secondary.
 */
export function isLocalSecondary(path: string): boolean {
  return SecondaryRoleFile.exists(path);
}

/** The secondary is split: writes to it are allowed, and recorded. */
export function splitLocalSecondary(path: string, unitCount: number): void {
  if (!SecondaryRoleFile.exists(path)) SecondaryRoleFile.create(path, unitCount, 'split');
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
export function reprotectLocalSecondary(path: string, unitCount: number): void {
  protectLocalSecondary(path, unitCount);
}

/** The mirror is removed: the image is a plain volume again. */
export function releaseLocalSecondary(path: string): void {
  rmSync(secondaryRolePath(path), { force: true });
}
