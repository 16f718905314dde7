/**
 * A track image moved to another track: its home address, and the record ids (count fields) that
 * named the old track, rewritten to name the new one. Every copy of a track to another place goes
 * through here: a data-set restore to new extents, an extent clone's relocated data sets, a mapped
 * volume's relocated slot. Hercules checks a track's home address against its place, and a reader
 * searches by record id, so a moved track that kept its old CCHH would not be found.
 */
import { decodeFields, num } from '../base/field-table.js';
import type { Cchh } from '../geometry/cchh.js';
import { decodeTrack, encodeTrack, type TrackSource } from './track-codec.js';
import { HOME_ADDRESS_LAYOUT } from './track-layout.js';

/**
 * `image` (a slot, or a track's used bytes) as track `target`: the same length, the used bytes
 * re-encoded and the rest kept. An image that does not decode (an all-zero slot) is returned as it
 * is: it has no record ids to rewrite. A record whose id names another track keeps it.
 */
export function relocateTrackImage(image: Buffer, target: Cchh, source: TrackSource): Buffer {
  if (image.length < HOME_ADDRESS_LAYOUT.size) return image;
  const ha = decodeFields(HOME_ADDRESS_LAYOUT, image);
  const stored = { cylinder: num(ha, 'cylinder'), head: num(ha, 'head') };
  if (stored.cylinder === target.cylinder && stored.head === target.head) return image;
  let decoded;
  try {
    decoded = decodeTrack(image, stored, source);
  } catch {
    return image;
  }
  const records = decoded.records.map((r) =>
    r.cylinder === stored.cylinder && r.head === stored.head ? { ...r, cylinder: target.cylinder, head: target.head } : r,
  );
  const encoded = encodeTrack({ cchh: target, r0Data: decoded.r0Data, records });
  const out = Buffer.from(image);
  encoded.copy(out, 0);
  return out;
}
