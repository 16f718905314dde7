/**
 * Splits taken by the server of a remote mirror secondary (techniques/mirror/secondary-split.ts):
 * `POST /volumes/:name/split` holds the served volume's export, so that from this instant no NBD
 * write reaches it and the primary, refused on its link, puts its mirror into backup mode; `POST
 * /volumes/:name/rejoin` releases it, the end-of-backup signal on which the primary rejoins.
 *
 * Invariants:
 * - a split is durable before it is in force: `<image>.secondary-split` (JSON: the split instant)
 *   is written first, and a server that starts with that file beside an image holds its export
 *   before NBD listens, so a restart of the secondary's server during a backup is never taken by
 *   the primary for the end of the backup;
 * - the release lifts the hold, then deletes the file (a crash in between leaves it split);
 * - a volume that is itself the primary of a mirror (it has a `.mirror` file) is never split here.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { readRegularFileText } from '../base/file-io.js';
import { dirname } from 'node:path';
import { SessionError, UsageError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { durableReplace, fsyncDirectory } from '../image/durable-replace.js';
import { mirrorFilePath } from '../techniques/mirror/mirror-state-file.js';
import { secondarySplitReason } from '../techniques/mirror/secondary-split.js';
import type { ServedVolume, ServedVolumes } from './served-volumes.js';
import type { SecondarySplitInfo } from '../control-api/control-api-types.js';

/** The suffix of the file that records a split beside the secondary's image. */
export const SECONDARY_SPLIT_SUFFIX = '.secondary-split';

/** A split record holds one time stamp. */
const SPLIT_RECORD_MAX_BYTES = 64 * 1024;

export function secondarySplitFilePath(imagePath: string): string {
  return `${imagePath}${SECONDARY_SPLIT_SUFFIX}`;
}

/**
 * The split instant recorded beside an image, if any; a file that cannot be read still means split
 * (a FIFO or a huge file there too: it is read only as a small regular file, never waited on).
 */
function recordedSplit(imagePath: string): string | undefined {
  const path = secondarySplitFilePath(imagePath);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readRegularFileText(path, 'the secondary split record', SPLIT_RECORD_MAX_BYTES)) as { splitAt?: unknown };
    return typeof parsed.splitAt === 'string' ? parsed.splitAt : 'an unknown time (its record is unreadable)';
  } catch {
    return 'an unknown time (its record is unreadable)';
  }
}

export class SecondarySplits {
  // Set once.
  private readonly volumes: ServedVolumes;
  // Main thread only.
  private readonly splitAt = new Map<string, string>();

  /** Takes up the splits recorded beside the served images (call before NBD listens). */
  constructor(volumes: ServedVolumes) {
    this.volumes = volumes;
    for (const served of volumes.list()) {
      const at = recordedSplit(served.volume.path);
      if (at === undefined) continue;
      this.splitAt.set(served.name, at);
      served.backend.hold(secondarySplitReason(at));
    }
  }

  info(name: string): SecondarySplitInfo {
    const served = this.volumes.get(name);
    const at = this.splitAt.get(served.name);
    return { volume: served.name, split: at !== undefined, splitAt: at ?? null };
  }

  isSplit(name: string): boolean {
    return this.splitAt.has(name);
  }

  /** Splits the served volume `name` at this instant (see the module comment). */
  split(name: string): SecondarySplitInfo {
    const served = this.volumes.get(name);
    const already = this.splitAt.get(served.name);
    if (already !== undefined)
      throw new SessionError(`Cannot split ${served.name} from the secondary's side: it is split since ${already}`, { volume: served.name });
    this.checkSplittable(served);
    const at = new Date().toISOString();
    const file = secondarySplitFilePath(served.volume.path);
    durableReplace(file, `${JSON.stringify({ splitAt: at })}\n`, `record the split of ${served.name}`);
    fsyncDirectory(dirname(file));
    // From here no NBD write reaches the volume: this is the split instant.
    served.backend.hold(secondarySplitReason(at));
    this.splitAt.set(served.name, at);
    return this.info(served.name);
  }

  /** Ends the split of `name`: the export takes writes again, and the primary's next connect rejoins. */
  rejoin(name: string): SecondarySplitInfo {
    const served = this.volumes.get(name);
    if (!this.splitAt.has(served.name))
      throw new SessionError(`Cannot rejoin ${served.name} from the secondary's side: it is not split`, { volume: served.name });
    served.backend.release();
    this.splitAt.delete(served.name);
    const file = secondarySplitFilePath(served.volume.path);
    try {
      unlinkSync(file);
      fsyncDirectory(dirname(file));
    } catch (error) {
      throw translateIoError(error, `delete the split record of ${served.name}`, file);
    }
    return this.info(served.name);
  }

  private checkSplittable(served: ServedVolume): void {
    if (served.volume.readOnly)
      throw new UsageError(`Cannot split ${served.name} from the secondary's side: it is served read-only, so no mirror writes to it`, { volume: served.name });
    if (existsSync(mirrorFilePath(served.volume.path)))
      throw new UsageError(`Cannot split ${served.name} from the secondary's side: it is the primary of a mirror (split that with mirror split)`, {
        volume: served.name,
      });
  }
}
