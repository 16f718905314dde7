/**
 * What this thread's engine copied, by path: the background copy on workers (their results,
 * added when a copy returns), the background copy on this thread, and the host-driven copies
 * (copy-before-write, fetch on demand, spool and drain). For tests and the bench: every unit a
 * technique copies shows here, so a copy that went around the engine would show as missing.
 */
export type CensusPath = 'worker' | 'owning-thread' | 'host-driven';

export interface CensusCount {
  units: number;
  bytes: number;
}

const census: Record<CensusPath, CensusCount> = {
  worker: { units: 0, bytes: 0 },
  'owning-thread': { units: 0, bytes: 0 },
  'host-driven': { units: 0, bytes: 0 },
};

export function countCopies(path: CensusPath, units: number, bytes: number): void {
  census[path].units += units;
  census[path].bytes += bytes;
}

/** A copy of the counts so far. */
export function copyCensus(): Readonly<Record<CensusPath, Readonly<CensusCount>>> {
  return { worker: { ...census.worker }, 'owning-thread': { ...census['owning-thread'] }, 'host-driven': { ...census['host-driven'] } };
}
