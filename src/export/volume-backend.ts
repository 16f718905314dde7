/**
 * An NBD export over a `Volume`: the volume's flat view, unit slots laid end to end. An FBA volume
 * exports its blocks; a CKD volume exports its fixed-size track slots, track t at t × slot size
 * (`Volume.readFlat` / `Volume.writeFlat` do the mapping).
 *
 * Invariants:
 * - every NBD write, and every zero fill, is a host write through the volume's interceptor chain
 *   (`writeFlat`, or `writeFlatDeferred` for a WRITE or a zero fill of one chunk: the chain runs at
 *   once, the bytes land on the libuv pool where the chain allows it), so a copy-before-write session
 *   sees it before the bytes land;
 * - a zero fill writes at most ZERO_FILL_CHUNK_BYTES per host write, so one request never builds a
 *   buffer as large as the request's length; of a CKD track it writes only the bytes the size table
 *   V says may be non-zero (`Volume.zeroFlat`), so it allocates nothing over empty tracks;
 * - TRIM is not offered: dropping a track's bytes would bypass the chain's notion of a write;
 * - FLUSH makes every completed write durable (`Volume.sync`);
 * - one mirror link writes the export: a newer link's grant revokes the older one, whose writes
 *   are refused from then on (EPERM);
 * - it offers `base:allocation` from the volume's size table (allocation-context.ts), and any
 *   context added with `addMetaContext` (a checkpoint's dirty tracks), each name once.
 */
import { basename, extname } from 'node:path';
import { assert, assertInteger } from '../base/assert.js';
import { scatteredLength, type ScatteredBytes } from '../base/scattered-bytes.js';
import { LockedError, SessionError, UsageError } from '../errors/snaptape-error.js';
import { volumeAllocation } from './allocation-context.js';
import type { MetaContextSource } from './nbd-meta-context.js';
import type { Volume } from '../volume/volume.js';
import { ZERO_FILL_CHUNK_BYTES } from './nbd-constants.js';
import type { NbdExportBackend } from './nbd-backend.js';
import type { MirrorLinkGrant, MirrorLinkMode } from './mirror-link-option.js';
import { installSecondaryGuard, releaseSecondaryGuard, secondaryGuardOf, type SecondaryGuard } from '../volume/secondary-guard.js';
import { withWritesLanded } from '../volume/deferred-writes.js';

/** The export name rule of `snaptape serve`: the image file's basename without its last extension. */
export function exportNameFor(imagePath: string): string {
  const base = basename(imagePath);
  const extension = extname(base);
  return extension.length > 0 && extension.length < base.length ? base.slice(0, -extension.length) : base;
}

/** The zeros a zero fill in flight writes: never written to, so one buffer serves every fill at once. */
const ZEROES = Buffer.alloc(ZERO_FILL_CHUNK_BYTES);

export interface VolumeBackendOptions {
  /** Export name; defaults to `exportNameFor(volume.path)`. */
  readonly name?: string;
}

export class VolumeBackend implements NbdExportBackend {
  // Set once.
  readonly name: string;
  readonly sizeBytes: number;
  readonly canTrim = false;
  readonly volume: Volume;
  // Main thread only.
  private readonly contexts: MetaContextSource[];
  private readonly providers: (() => readonly MetaContextSource[])[] = [];
  private held: string | undefined;
  /** The export as the last mirror link granted writes it (PROTECT, FORGET): a newer grant revokes it. */
  private link: MirrorLinkBackend | undefined;

  constructor(volume: Volume, options: VolumeBackendOptions = {}) {
    this.volume = volume;
    this.name = options.name ?? exportNameFor(volume.path);
    this.sizeBytes = volume.flatSizeBytes;
    this.contexts = [volumeAllocation(volume)];
  }

  metaContexts(): readonly MetaContextSource[] {
    const named = new Set(this.contexts.map((c) => c.name));
    return [...this.contexts, ...this.providers.flatMap((provide) => provide()).filter((c) => !named.has(c.name))];
  }

  /**
   * Offers the contexts `provide` returns at each negotiation, as they are then (a tracked volume's
   * checkpoints, which come and go while the export is served). A fixed context of the same name wins.
   */
  addMetaContextProvider(provide: () => readonly MetaContextSource[]): void {
    this.providers.push(provide);
  }

  /** Offers one more metadata context to clients that connect from now on (a checkpoint's dirty tracks). */
  addMetaContext(source: MetaContextSource): void {
    if (this.contexts.some((c) => c.name === source.name)) {
      throw new UsageError(`Cannot add metadata context ${source.name} to export '${this.name}': it has one of that name`, { exportName: this.name });
    }
    this.contexts.push(source);
  }

  /** Why the export is held (see NbdExportBackend.heldReason), or undefined. */
  get heldReason(): string | undefined {
    return this.held;
  }

  /**
   * Holds the export: new clients are refused at the handshake with `reason`, and writes of
   * clients already connected are refused (EPERM), so from this instant no NBD write reaches the
   * volume. The volume itself stays open to its owner (a backup reads it).
   */
  hold(reason: string): void {
    this.held = reason;
  }

  release(): void {
    this.held = undefined;
  }

  /** Read-only when the volume is, and while it is a protected mirror secondary (then only its link writes). */
  get readOnly(): boolean {
    return this.volume.readOnly || secondaryGuardOf(this.volume)?.state === 'protected';
  }

  /**
   * A mirror's link takes the export (mirror-link-option.ts): the secondary's guard is set to match.
   * A grant that names units to resend (protect, forget) waits until every client write the export
   * took before it has landed (writes meanwhile run synchronously): one still landing could land
   * after the primary's resend of its unit, and leave the secondary unlike the primary.
   */
  mirrorLink(mode: MirrorLinkMode): MirrorLinkGrant<NbdExportBackend> | Promise<MirrorLinkGrant<NbdExportBackend>> {
    if (this.volume.readOnly) throw new UsageError(`Cannot mirror onto ${this.volume.path}: it is served read-only`, { path: this.volume.path });
    if (mode === 'protect' || mode === 'forget') return withWritesLanded([this.volume], () => this.grantLink(mode));
    return this.grantLink(mode);
  }

  private grantLink(mode: MirrorLinkMode): MirrorLinkGrant<NbdExportBackend> {
    const unitCount = this.volume.unitCount;
    // One link writes the export: the connection of an older one (which the primary dropped, but
    // whose buffered requests the server may still run) must not land a write after the new one's.
    this.link?.revoke();
    this.link = undefined;
    if (mode === 'release') {
      releaseSecondaryGuard(this.volume);
      return { backend: this, unitCount, writtenUnits: [], commit: () => undefined };
    }
    const guard = installSecondaryGuard(this.volume, mode === 'protect' ? 'protected' : 'split');
    assert(guard !== undefined, 'a writable volume takes a guard');
    if (mode === 'split') {
      guard.file.setState('split');
      return { backend: this, unitCount, writtenUnits: [], commit: () => undefined };
    }
    guard.file.setState('protected');
    const forget = mode === 'forget' ? () => guard.file.clearRecord() : () => undefined;
    this.link = new MirrorLinkBackend(this, guard);
    return { backend: this.link, unitCount, writtenUnits: guard.file.writtenUnits(), commit: forget };
  }

  read(offsetBytes: number, length: number): Buffer {
    this.checkRange(offsetBytes, length);
    return this.volume.readFlat(offsetBytes, length);
  }

  readInto(offsetBytes: number, into: Buffer): void {
    this.checkRange(offsetBytes, into.length);
    this.volume.readFlatInto(offsetBytes, into);
  }

  async readIntoAsync(offsetBytes: number, into: Buffer): Promise<void> {
    this.checkRange(offsetBytes, into.length);
    await this.volume.readFlatIntoAsync(offsetBytes, into);
  }

  write(offsetBytes: number, data: Buffer): void {
    assert(!this.volume.readOnly, 'write is not called on a read-only volume');
    this.refuseWhileHeld();
    this.checkRange(offsetBytes, data.length);
    this.volume.writeFlat(offsetBytes, data);
  }

  /** `write` with the pwrite on the libuv pool where the volume's chain allows it (Volume.writeFlatDeferred). */
  writeAsync(offsetBytes: number, data: ScatteredBytes): Promise<void> {
    assert(!this.volume.readOnly, 'write is not called on a read-only volume');
    this.refuseWhileHeld();
    this.checkRange(offsetBytes, scatteredLength(data));
    return this.volume.writeFlatDeferred(offsetBytes, data);
  }

  /** A zero fill of at most ZERO_FILL_CHUNK_BYTES as one deferred write (Volume.writeFlatDeferred). */
  writeZeroesAsync(offsetBytes: number, length: number): Promise<void> {
    assert(!this.volume.readOnly, 'writeZeroes is not called on a read-only volume');
    assert(length <= ZEROES.length, 'a zero fill in flight is at most one chunk');
    this.refuseWhileHeld();
    this.checkRange(offsetBytes, length);
    return this.volume.zeroFlatDeferred(offsetBytes, ZEROES.subarray(0, length));
  }

  writeZeroes(offsetBytes: number, length: number): void {
    assert(!this.volume.readOnly, 'writeZeroes is not called on a read-only volume');
    this.refuseWhileHeld();
    this.checkRange(offsetBytes, length);
    // Bounded: each step advances by one chunk (the last may be shorter).
    for (let done = 0; done < length; done += ZEROES.length) {
      this.volume.zeroFlat(offsetBytes + done, ZEROES.subarray(0, Math.min(ZEROES.length, length - done)));
    }
  }

  flush(): void {
    if (!this.volume.readOnly) this.volume.sync();
  }

  private refuseWhileHeld(): void {
    if (this.held !== undefined) throw new SessionError(`Cannot write export '${this.name}': ${this.held}`, { exportName: this.name });
  }

  private checkRange(offsetBytes: number, length: number): void {
    assertInteger(offsetBytes, 'offsetBytes');
    assertInteger(length, 'length');
    assert(offsetBytes >= 0 && offsetBytes + length <= this.sizeBytes, `range ${offsetBytes}+${length} lies inside ${this.sizeBytes} bytes`);
  }
}

/** The export as a protected secondary's mirror link writes it: through the guard, as the mirror. */
class MirrorLinkBackend implements NbdExportBackend {
  // Set once.
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly = false;
  readonly canTrim = false;
  private readonly inner: VolumeBackend;
  private readonly guard: SecondaryGuard;
  // Main thread only.
  private revoked = false;

  constructor(inner: VolumeBackend, guard: SecondaryGuard) {
    this.inner = inner;
    this.guard = guard;
    this.name = inner.name;
    this.sizeBytes = inner.sizeBytes;
  }

  /** Held with the export it writes: a secondary split by its own server refuses its link too. */
  get heldReason(): string | undefined {
    return this.inner.heldReason;
  }

  read(offsetBytes: number, length: number): Buffer {
    return this.inner.read(offsetBytes, length);
  }

  readInto(offsetBytes: number, into: Buffer): void {
    this.inner.readInto(offsetBytes, into);
  }

  readIntoAsync(offsetBytes: number, into: Buffer): Promise<void> {
    return this.inner.readIntoAsync(offsetBytes, into);
  }

  /** A newer link took the export: every write of this one is refused from now on. */
  revoke(): void {
    this.revoked = true;
  }

  write(offsetBytes: number, data: Buffer): void {
    this.refuseOnceRevoked(offsetBytes);
    this.guard.asMirror(() => this.inner.write(offsetBytes, data));
  }

  /** The guard sees the write as the mirror's: the chain runs inside `asMirror`, before `writeAsync` returns. */
  writeAsync(offsetBytes: number, data: ScatteredBytes): Promise<void> {
    this.refuseOnceRevoked(offsetBytes);
    return this.guard.asMirror(() => this.inner.writeAsync(offsetBytes, data));
  }

  writeZeroesAsync(offsetBytes: number, length: number): Promise<void> {
    this.refuseOnceRevoked(offsetBytes);
    return this.guard.asMirror(() => this.inner.writeZeroesAsync(offsetBytes, length));
  }

  writeZeroes(offsetBytes: number, length: number): void {
    this.refuseOnceRevoked(offsetBytes);
    this.guard.asMirror(() => this.inner.writeZeroes(offsetBytes, length));
  }

  private refuseOnceRevoked(offsetBytes: number): void {
    if (!this.revoked) return;
    const path = this.inner.volume.path;
    throw new LockedError(`Cannot write ${path} at byte ${offsetBytes} as its mirror's link: a newer link of the mirror has taken the export`, {
      path,
      offset: offsetBytes,
    });
  }

  flush(): void {
    this.inner.flush();
  }
}
