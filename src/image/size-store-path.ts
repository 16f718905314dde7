/**
 * Where an image's size table is kept: `<image>.sizes`, beside the image (volume/track-size-store.ts
 * writes it). A backend that replaces an image's tracks wholesale (a new mapped volume) removes a
 * stale one, so the path is known down here, below the volume that owns the table.
 */
export function sizeStorePath(imagePath: string): string {
  return `${imagePath}.sizes`;
}
