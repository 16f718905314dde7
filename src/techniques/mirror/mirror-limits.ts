/**
 * Named limits of the mirror technique (every limit has a name and a reason): each has the reason for its value, and the
 * ones that relate to each other are checked when the module loads.
 */
import { assert } from '../../base/assert.js';
import { COPY_BATCH_UNITS, SMALL_UNIT_BATCH_BYTES } from '../../engine/index.js';
import { FBA_BLOCK_BYTES } from '../../geometry/index.js';

/** Mirrors per track-status entry: M1 is the primary, M2..M4 the secondaries (issue 7: "M1 to M4"). */
export const MAX_MIRRORS = 4;
/** Secondaries of one primary: every mirror but M1. */
export const MAX_SECONDARIES = MAX_MIRRORS - 1;
/** A remote secondary that has not answered a write in this time is marked behind (its bits cleared). */
export const LINK_TIMEOUT_MS = 3_000;
/** The owning thread waits this much longer than the link worker's own timeout before giving up on it. */
export const WORKER_GRACE_MS = 1_000;
/** A link that is down is tried again this often; short, so a restarted secondary rejoins quickly. */
export const RECONNECT_INTERVAL_MS = 500;
/** Bytes one request over the link channel carries: a batch of whole 3390 slots plus room. */
export const LINK_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Requests in flight on the link channel (each LINK_BATCH_BYTES of shared memory): the background
 * copy keeps all but one busy (three batches of a cylinder or 1 MiB), so a host write always finds
 * a free one. Other counts were not measured: against a server that answers one request at a time
 * the server, not the link, is the bottleneck (bench/RESULTS.md, section 7).
 */
export const LINK_SLOTS = 4;
/**
 * A local secondary's background copy starts its writeback after this many bytes (an fdatasync,
 * base/stepped-writeback.ts): small enough that the closing fsync finds little dirty, large enough
 * that a copy of a few GB starts only a few hundred.
 */
export const MIRROR_WRITEBACK_BYTES = 16 * 1024 * 1024;
/**
 * Write descriptors in one channel request (each a run of units: their data and a zero tail): as
 * many as a batch of the background copy has units at most (1 MiB of 512-byte FBA blocks, each a run
 * of its own where they are scattered), so that a batch is always one request. The copy then never
 * waits on the owning thread for a slot (`ready` leaves it one): a batch of more requests than the
 * channel has slots blocked the owning thread, and every client of the server with it, until the
 * secondary had answered the older ones (433 and 553 ms at a time in a scattered resync).
 */
export const LINK_BATCH_UNITS = SMALL_UNIT_BATCH_BYTES / FBA_BLOCK_BYTES;
/** Set validity bits (which may be persisted late, they only under-claim) are written out this often. */
export const PERSIST_INTERVAL_MS = 1_000;
/** Tracks in error kept per mirror in status; the count goes on past it. */
export const MAX_REPORTED_TRACK_ERRORS = 32;
/** A target (image path or host:port/export) as stored in the .mirror file. */
export const MAX_TARGET_BYTES = 248;

assert(
  LINK_BATCH_UNITS >= COPY_BATCH_UNITS && SMALL_UNIT_BATCH_BYTES <= LINK_BATCH_BYTES && COPY_BATCH_UNITS * 64 * 1024 <= LINK_BATCH_BYTES,
  'a batch of the background copy (a cylinder, or 1 MiB of blocks) is one channel request',
);
assert(LINK_SLOTS >= 2, 'a host write finds a free slot while the background copy fills the others');
assert(WORKER_GRACE_MS > 0 && LINK_TIMEOUT_MS > RECONNECT_INTERVAL_MS, 'timeouts are ordered');
