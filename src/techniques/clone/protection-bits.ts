/**
 * The protection-bit (PB) table of a source volume and the IND bits of a destination. Each source
 * that takes part in a clone has one table of bit columns (engine/bit-columns.ts) with room for
 * MAX_CLONE_SESSIONS_PER_SOURCE sessions; a session holds a slot, which is two columns:
 *
 *   column 2 × slot      CLONE PB    the track is still to be copied to this session's target
 *   column 2 × slot + 1  PRECOPY PB  the track was copied by a precopy pass and not written since
 *
 * A destination has one IND (indirect) column: the track's data is still at the source, so a read
 * or write on the destination must fetch it first. A volume is the destination of one session at a
 * time, and a destination is not also a source.
 *
 * Invariants: a slot is held by one session from CREATE until TERMINATE or cancel; `release`
 * clears its columns, so a later session in the slot starts from clear bits; a 9th session on a
 * source is refused before anything is made.
 */
import { assert } from '../../base/assert.js';
import { BitColumns, MAX_BIT_COLUMNS } from '../../engine/bit-columns.js';
import { SessionError } from '../../errors/snaptape-error.js';
import { MAX_INTERCEPTORS } from '../../volume/write-interceptor.js';
import type { Volume } from '../../volume/volume.js';

/** Sessions one source allows at once: the floor of 8; each costs two columns and one interceptor. */
export const MAX_CLONE_SESSIONS_PER_SOURCE = 8;
export const PB_COLUMNS_PER_SESSION = 2;
export const PB = { clone: 0, precopy: 1 } as const;
/** The IND table of a destination has this one column. */
export const IND_COLUMN = 0;

assert(MAX_CLONE_SESSIONS_PER_SOURCE * PB_COLUMNS_PER_SESSION <= MAX_BIT_COLUMNS, 'the PB columns of every session fit one table');
assert(MAX_CLONE_SESSIONS_PER_SOURCE < MAX_INTERCEPTORS, 'every clone session on a source can register, with room for a backup');

export class ProtectionBitTable {
  // Set once.
  readonly columns: BitColumns;
  // Main thread only.
  private readonly holders: (string | undefined)[] = new Array<string | undefined>(MAX_CLONE_SESSIONS_PER_SOURCE).fill(undefined);

  constructor(unitCount: number) {
    this.columns = BitColumns.create(MAX_CLONE_SESSIONS_PER_SOURCE * PB_COLUMNS_PER_SESSION, unitCount);
  }

  /** Sessions holding a slot now. */
  get sessions(): string[] {
    return this.holders.filter((h): h is string => h !== undefined);
  }

  /** The first free slot; refuses a session beyond the limit. Nothing changes on a refusal. */
  freeSlot(sourcePath: string, session: string): number {
    const slot = this.holders.indexOf(undefined);
    if (slot < 0) {
      throw new SessionError(
        `Cannot create clone session ${session} on ${sourcePath}: it already has ${MAX_CLONE_SESSIONS_PER_SOURCE} clone sessions (${this.sessions.join(', ')}), the most a source allows`,
        {
          path: sourcePath,
          limit: MAX_CLONE_SESSIONS_PER_SOURCE,
        },
      );
    }
    return slot;
  }

  acquire(slot: number, session: string): void {
    assert(this.holders[slot] === undefined, `PB slot ${slot} is free`);
    this.holders[slot] = session;
    this.columns.clearColumn(columnOf(slot, 'clone'));
    this.columns.clearColumn(columnOf(slot, 'precopy'));
  }

  release(slot: number, session: string): void {
    assert(this.holders[slot] === session, `PB slot ${slot} is held by ${session}`);
    this.columns.clearColumn(columnOf(slot, 'clone'));
    this.columns.clearColumn(columnOf(slot, 'precopy'));
    this.holders[slot] = undefined;
  }
}

export function columnOf(slot: number, kind: keyof typeof PB): number {
  return slot * PB_COLUMNS_PER_SESSION + PB[kind];
}

// Main thread only: the tables of the volumes open in this process.
const tables = new WeakMap<Volume, ProtectionBitTable>();
const destinations = new WeakMap<Volume, string>();

export function protectionBitsOf(source: Volume): ProtectionBitTable {
  let table = tables.get(source);
  if (!table) {
    table = new ProtectionBitTable(source.unitCount);
    tables.set(source, table);
  }
  return table;
}

/** The session a volume is the destination of, if any. */
export function destinationHolder(volume: Volume): string | undefined {
  return destinations.get(volume);
}

export function claimDestination(volume: Volume, session: string): void {
  assert(!destinations.has(volume), `${volume.path} is the destination of one session`);
  destinations.set(volume, session);
}

export function releaseDestination(volume: Volume, session: string): void {
  assert(destinations.get(volume) === session, `${volume.path} is the destination of ${session}`);
  destinations.delete(volume);
}

/** True when the volume is a source of some clone session. */
export function isCloneSource(volume: Volume): boolean {
  return (tables.get(volume)?.sessions.length ?? 0) > 0;
}
