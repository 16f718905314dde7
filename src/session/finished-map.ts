/**
 * The map of a finished backup, kept beside its tape as `<tape>.map.json`: the TrackMapSnapshot as
 * JSON (shape, counts, and the one-character-per-unit code string). `snaptape map` reads it.
 *
 * Invariant: a file read back has one code per unit and its counts agree with its codes; anything
 * else is reported as a typed error naming the file.
 */
import { existsSync } from 'node:fs';
import { readRegularFileText } from '../base/file-io.js';
import { translateIoError } from '../errors/io-error.js';
import { durableReplaceOffThread } from '../image/durable-replace.js';
import { UsageError } from '../errors/snaptape-error.js';
import { TRACK_MAP_KINDS, countCodes, legendFor, type TrackMapSnapshot } from './session-view.js';

/**
 * The most a map file may hold: one character per unit, so every CKD volume's map and an FBA
 * volume's up to 2^28 blocks (128 GiB) fit. A larger file is refused by its size, unread.
 */
const FINISHED_MAP_MAX_BYTES = 256 * 1024 ** 2 + 64 * 1024;

export function finishedMapPath(tapeKey: string): string {
  return `${tapeKey}.map.json`;
}

/**
 * Writes the map durably, with the fsyncs off this thread (durable-replace.ts): it is written at a
 * backup's finish, on the owning thread of its volume, where host writes wait.
 */
export async function writeFinishedMap(tapeKey: string, map: TrackMapSnapshot): Promise<void> {
  const path = finishedMapPath(tapeKey);
  await durableReplaceOffThread(path, `${JSON.stringify(map)}\n`, 'write the track map', () => true);
}

/** Reads `<tape>.map.json` (or a map file given directly). */
export function readFinishedMap(tapeOrMapPath: string): TrackMapSnapshot {
  const path = tapeOrMapPath.endsWith('.map.json') ? tapeOrMapPath : finishedMapPath(tapeOrMapPath);
  if (!existsSync(path)) {
    throw new UsageError(
      `Cannot draw the map of ${tapeOrMapPath}: ${path} is missing (it is written when a backup completes; for a session running on a server, give --server)`,
      { path },
    );
  }
  const text = readRegularFileText(path, 'the track map', FINISHED_MAP_MAX_BYTES);
  let map: TrackMapSnapshot;
  try {
    map = JSON.parse(text) as TrackMapSnapshot;
  } catch (error) {
    throw translateIoError(error, 'read the track map', path);
  }
  if (typeof map.codes !== 'string' || map.codes.length !== map.unitCount) {
    throw new UsageError(`Cannot draw the map in ${path}: it has ${String(map.codes?.length)} codes for ${map.unitCount} units`, { path });
  }
  if (!/^[xpiorXPIOR]*$/.test(map.codes)) throw new UsageError(`Cannot draw the map in ${path}: it has unknown track codes`, { path });
  const counts = countCodes(map.codes);
  if (counts.copiedInOrder !== map.counts.copiedInOrder || counts.copiedOutOfOrder !== map.counts.copiedOutOfOrder) {
    throw new UsageError(`Cannot draw the map in ${path}: its counts disagree with its codes`, { path });
  }
  // A map written before maps had a kind is a backup's. The legend is its kind's, whatever the file says.
  const kind = (map as { kind?: unknown }).kind ?? 'backup';
  if (!TRACK_MAP_KINDS.includes(kind as TrackMapSnapshot['kind']))
    throw new UsageError(`Cannot draw the map in ${path}: its kind ${JSON.stringify(kind)} is unknown`, { path });
  const known = kind as TrackMapSnapshot['kind'];
  return { ...map, kind: known, legend: legendFor(known) };
}
