/**
 * `snaptape info <image|tape>`, the library side (compare `qemu-img info`): what the path is, found
 * from its bytes as `check` finds it, with its geometry or tape contents, the session checkpoints
 * beside it and every side file snaptape keeps there. Nothing is written.
 */
import { detectCheckTarget } from '../../check/check-target.js';
import { ImageFormatError } from '../../errors/snaptape-error.js';
import { isMappedVolumePath } from '../../subsystem/mapped-volumes.js';
import { imageInfo, type ImageInfo } from './image-info.js';
import { findCheckpoints, findSideFiles, type Checkpoint, type SideFile } from './side-files.js';
import { tapeInfo, type TapeInfo } from './tape-info.js';
import { trackingStatus, type TrackingStatus } from '../tracking-api.js';

export type { Checkpoint, ImageInfo, SideFile, TapeInfo };

interface Beside {
  readonly checkpoints: readonly Checkpoint[];
  readonly sideFiles: readonly SideFile[];
}

/** An image's change tracking and its named checkpoints (null: the image is not tracked). */
export type PathInfo = (ImageInfo & Beside & { readonly tracking: TrackingStatus | null }) | (TapeInfo & Beside);

/** Describes the image, mapped volume or tape at `path`; a subsystem folder or a shadow file is refused. */
export function describePath(path: string): PathInfo {
  const target = detectCheckTarget(path, 'describe');
  const beside = (): Beside => ({ checkpoints: findCheckpoints(path), sideFiles: findSideFiles(path) });
  if (target.kind === 'tape') return { ...tapeInfo(path), ...beside() };
  if (target.kind === 'subsystem' && !isMappedVolumePath(path)) {
    throw new ImageFormatError(`Cannot describe ${path}: it is a subsystem folder, not a volume (snaptape subsystem usage describes it)`, { path });
  }
  if (target.kind === 'image' && target.format === 'cckd-shadow') {
    throw new ImageFormatError(`Cannot describe ${path}: it is a CCKD shadow file; describe its base file`, { path });
  }
  return { ...imageInfo(target), ...beside(), tracking: trackingStatus(path) };
}
