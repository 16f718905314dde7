/**
 * The guard of a mirror's secondary (issue 20): an interceptor, first on the write chain, of a
 * volume whose image has a role file (secondary-role-file.ts).
 * - PROTECTED: every write is refused with a LockedError (NBD clients get EPERM), except the
 *   mirror's own, which run inside `asMirror`;
 * - SPLIT: every write goes ahead, and its units are recorded in the role file durably first, so a
 *   crash after the write cannot lose the record.
 * `openVolume` installs it on every writable open of such an image; the mirror that owns a local
 * secondary opens it with `mirrorSecondary` and keeps the role file itself.
 */
import { LockedError } from '../errors/snaptape-error.js';
import type { Volume } from './volume.js';
import type { WriteEvent, WriteInterceptor } from './write-interceptor.js';
import { SecondaryRoleFile, type SecondaryRoleState } from './secondary-role-file.js';

const guards = new WeakMap<Volume, SecondaryGuard>();

export class SecondaryGuard implements WriteInterceptor {
  // Set once.
  readonly name = 'secondary guard';
  readonly stage = 'guard' as const;
  /** It only decides (a refusal, or a durable record before the write): the bytes may land later. */
  readonly deferredWriteSafe = true;
  readonly volume: Volume;
  readonly file: SecondaryRoleFile;
  // Main thread only.
  /**
   * Depth of `asMirror` calls: the chain runs synchronously (a deferred write's too, before it
   * returns), so this is exactly "the mirror is writing".
   */
  private mirrorDepth = 0;

  constructor(volume: Volume, file: SecondaryRoleFile) {
    this.volume = volume;
    this.file = file;
  }

  get state(): SecondaryRoleState {
    return this.file.state;
  }

  beforeWrite(event: WriteEvent): void {
    if (this.mirrorDepth > 0) return;
    if (this.file.state === 'protected') {
      throw new LockedError(
        `Cannot write ${this.volume.path} at ${this.volume.geometry.kind === 'ckd' ? 'track' : 'block'} ${event.firstUnit}: it is the secondary of a mirror that is not split (only the mirror writes it; split the mirror first)`,
        { path: this.volume.path, unit: event.firstUnit },
      );
    }
    this.file.record(event.firstUnit, event.unitCount);
  }

  /** Runs the mirror's own writes: they are neither refused nor recorded. */
  asMirror<T>(body: () => T): T {
    this.mirrorDepth++;
    try {
      return body();
    } finally {
      this.mirrorDepth--;
    }
  }
}

/** The guard of `volume`, if it has one. */
export function secondaryGuardOf(volume: Volume): SecondaryGuard | undefined {
  return guards.get(volume);
}

/**
 * Puts a guard on `volume`: over its existing role file, or (with `create`) a new one in that
 * state. Returns the guard (the one already there, if any); undefined for a read-only volume or
 * an image without a role file and no `create`.
 */
export function installSecondaryGuard(volume: Volume, create?: SecondaryRoleState): SecondaryGuard | undefined {
  const existing = guards.get(volume);
  if (existing !== undefined) return existing;
  if (volume.readOnly) return undefined;
  let file: SecondaryRoleFile;
  if (SecondaryRoleFile.exists(volume.path)) file = SecondaryRoleFile.open(volume.path, volume.unitCount);
  else if (create !== undefined) file = SecondaryRoleFile.create(volume.path, volume.unitCount, create);
  else return undefined;
  const guard = new SecondaryGuard(volume, file);
  volume.addInterceptor(guard);
  guards.set(volume, guard);
  return guard;
}

/** Takes the guard off `volume` and deletes its role file: the volume is nobody's secondary any more. */
export function releaseSecondaryGuard(volume: Volume): void {
  const guard = guards.get(volume);
  if (guard !== undefined) {
    volume.removeInterceptor(guard);
    guards.delete(volume);
    guard.file.remove();
  } else if (SecondaryRoleFile.exists(volume.path)) SecondaryRoleFile.open(volume.path, volume.unitCount).remove();
}
