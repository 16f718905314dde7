/**
 * The write path's filter chain. Every host write to a volume (a format write, an update write, a
 * whole-track write, an FBA block write, a raw NBD write) calls `beforeWrite` on every interceptor,
 * in the declared stage order, then writes, then calls `afterWrite` in reverse order.
 *
 * Interceptors run synchronously on the thread that owns the volume: a copy-before-write finishes
 * before the host's bytes reach the image (ARCHITECTURE.md, the copy-before-write protocol).
 *
 * Reads: an interceptor may also have `beforeRead`, called before any read of the volume's units
 * (every Volume read, and every read of `volume.backend`, see read-hooked-backend.ts). A clone
 * destination uses it to fetch a track from its source before the track is read (an IND track).
 */
import { assert } from '../base/assert.js';

/** What a write touches: a run of units (tracks on CKD, blocks on FBA). */
export interface WriteRange {
  readonly firstUnit: number;
  readonly unitCount: number;
}

export type WriteKind = 'format' | 'update' | 'track' | 'blocks' | 'raw';

export interface WriteEvent extends WriteRange {
  readonly kind: WriteKind;
}

/**
 * Stages in the order their `beforeWrite` runs. The guard of a mirror's secondary runs first: a
 * write it refuses must reach no one. Copy-before-write runs next so that the old data is saved
 * before anything else can change it; observers run last and see the final decision.
 */
export const INTERCEPTOR_STAGES = ['guard', 'copy-before-write', 'clone', 'mirror', 'copy-on-write', 'observer'] as const;
export type InterceptorStage = (typeof INTERCEPTOR_STAGES)[number];

export interface WriteInterceptor {
  readonly name: string;
  readonly stage: InterceptorStage;
  beforeWrite(event: WriteEvent): void;
  afterWrite?(event: WriteEvent): void;
  /**
   * True when the interceptor is right with a write whose bytes land after the chain has run
   * (`Volume.writeFlatDeferred`): its `afterWrite` then runs before the bytes are on disk, and other
   * writes pass the chain before they land. Only an interceptor that decides (refuses, or records
   * durably in `beforeWrite`) may say so; one that reads or sends the written units (a mirror
   * primary, a backup's copy-before-write, a clone) must not. Absent: false, and the volume writes
   * synchronously while it is on the chain.
   */
  readonly deferredWriteSafe?: boolean;
  /** Runs before a read of these units; it may fill them in (it must not write through the chain). */
  beforeRead?(range: WriteRange): void;
  /**
   * Runs when the host flushes the volume, before the image itself is synced: an interceptor makes
   * its own state (a change bitmap, a spool) durable first, so the flush covers what it tracks.
   */
  beforeSync?(): void;
  /**
   * Runs once the volume is closed (the image's last byte written and its file closed): a change
   * tracker records the image's final mtime here, so that a later write that bypasses it is told.
   */
  afterClose?(): void;
}

/** Sessions a volume allows at once: 8 clone sessions plus a backup, a mirror and observers. */
export const MAX_INTERCEPTORS = 16;

export class InterceptorChain {
  // Main thread only.
  private chain: WriteInterceptor[] = [];
  /** The interceptors with a `beforeRead`, so that a read costs nothing when there are none. */
  private readers: WriteInterceptor[] = [];

  add(interceptor: WriteInterceptor): void {
    assert(!this.chain.includes(interceptor), `${interceptor.name} is registered once`);
    assert(this.chain.length < MAX_INTERCEPTORS, `at most ${MAX_INTERCEPTORS} interceptors on a volume`);
    this.chain.push(interceptor);
    const rank = (i: WriteInterceptor): number => INTERCEPTOR_STAGES.indexOf(i.stage);
    // Stable sort: interceptors of one stage keep their registration order.
    this.chain.sort((a, b) => rank(a) - rank(b));
    this.readers = this.chain.filter((i) => i.beforeRead !== undefined);
  }

  remove(interceptor: WriteInterceptor): void {
    this.chain = this.chain.filter((i) => i !== interceptor);
    this.readers = this.chain.filter((i) => i.beforeRead !== undefined);
  }

  /** True when every interceptor allows a deferred write (see `WriteInterceptor.deferredWriteSafe`); so does an empty chain. */
  get deferredWriteSafe(): boolean {
    return this.chain.every((i) => i.deferredWriteSafe === true);
  }

  /** True while some interceptor must see reads (a backup then copies on the owning thread). */
  get hasReaders(): boolean {
    return this.readers.length > 0;
  }

  /** Runs every `beforeRead`, in stage order, before units are read. */
  beforeRead(range: WriteRange): void {
    if (this.readers.length === 0) return;
    for (const interceptor of this.readers.slice()) interceptor.beforeRead?.(range);
  }

  /** Runs every `beforeSync`, in stage order (a host flush). */
  beforeSync(): void {
    for (const interceptor of this.chain.slice()) interceptor.beforeSync?.();
  }

  /** Runs every `afterClose`, in stage order (the volume was closed). */
  afterClose(): void {
    for (const interceptor of this.chain.slice()) interceptor.afterClose?.();
  }

  get size(): number {
    return this.chain.length;
  }

  names(): string[] {
    return this.chain.map((i) => i.name);
  }

  /** Runs `write` between the chain's before and after hooks. */
  around<T>(event: WriteEvent, write: () => T): T {
    // A snapshot of the chain: an interceptor that unregisters itself mid-write must not skip another.
    const chain = this.chain.slice();
    for (const interceptor of chain) interceptor.beforeWrite(event);
    const result = write();
    for (let i = chain.length - 1; i >= 0; i--) chain[i]?.afterWrite?.(event);
    return result;
  }
}
