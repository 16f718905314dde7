/**
 * Cartridge media types of a tape library: the nominal native capacity of each, and the media
 * letter that ends a cartridge's barcode. The barcode is the volser followed by the media letter
 * (the IBM 3494/3584 media identifiers), as a robot's reader sees it on the cartridge's label:
 * volser A00001 on a 3490E cartridge reads "A00001E".
 *
 * A library may override the capacity (`--capacity-bytes`) down to MIN_CAPACITY_BYTES, so that a
 * test or a drill spans several cartridges without writing gigabytes.
 */
import { UsageError } from '../errors/snaptape-error.js';

export interface MediaType {
  readonly name: string;
  /** Native capacity, uncompressed. */
  readonly capacityBytes: number;
  /** The media identifier a barcode label ends with. */
  readonly barcodeSuffix: string;
}

const MB = 1_000_000;

export const MEDIA_TYPES: readonly MediaType[] = [
  { name: '3480', capacityBytes: 200 * MB, barcodeSuffix: '1' },
  { name: '3490E', capacityBytes: 800 * MB, barcodeSuffix: 'E' },
  { name: '3590', capacityBytes: 10_000 * MB, barcodeSuffix: 'J' },
  { name: '3592', capacityBytes: 300_000 * MB, barcodeSuffix: 'JA' },
];

/** The smallest capacity a library may set: room for the labels and one block of a 3390 track. */
export const MIN_CAPACITY_BYTES = 64 * 1024;

/** The media type named `name` (case-insensitive), or a UsageError naming the known ones. */
export function mediaType(name: string): MediaType {
  const found = MEDIA_TYPES.find((m) => m.name === name.toUpperCase());
  if (found === undefined)
    throw new UsageError(`Cannot use media type "${name}": expected one of ${MEDIA_TYPES.map((m) => m.name).join(', ')}`, { media: name });
  return found;
}

/** The barcode of a cartridge: its volser and its media letter. */
export function barcodeOf(volser: string, media: MediaType): string {
  return `${volser}${media.barcodeSuffix}`;
}
