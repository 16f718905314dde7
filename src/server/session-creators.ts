/**
 * What the server knows of each technique: how to read its POST /sessions request and start its
 * Session (one creator per session type), and how to take up the sessions that outlived the last
 * server process (mirrors and clones). Everything after the start goes through the one adapter
 * (served-session.ts).
 *
 * - backup: a TapeBackupSession on one served volume, started inside the request handler, between
 *   two NBD requests, so the tape holds the volume as it was when the request was processed. With
 *   `--test-hooks`, `referenceCopy` makes the server copy the image file there right before the
 *   start, so a test holds a reference of the very same instant. Its track map is made at once,
 *   so a completed backup leaves `<tape>.map.json` beside its tape.
 * - clone: a CloneSession from one served volume (`volume`, the source) onto another (`target`);
 *   CREATE (and PRECOPY or ACTIVATE, if asked) runs in the handler.
 * - mirror: a MirrorSession of one served volume onto 1-3 secondaries, or (`resume`) the one in
 *   `<image>.mirror`.
 * - snapshot: a SnapshotSession between two served mapped volumes of one subsystem folder, on the
 *   volumes the server holds, so the pointer copy falls between two NBD requests.
 * A request the technique refuses fails the request itself.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { SessionError, isSnaptapeError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { MAX_COPY_WORKERS } from '../engine/copy-pool.js';
import { TapeBackupSession } from '../techniques/tape-backup/tape-backup-session.js';
import { CloneSession } from '../techniques/clone/clone-session.js';
import { findCloneToResume, restoreCloneToResume, type CloneResumePlan } from '../techniques/clone/clone-resume.js';
import { MirrorSession } from '../techniques/mirror/mirror-session.js';
import { mirrorFilePath } from '../techniques/mirror/mirror-state-file.js';
import { SnapshotSession } from '../techniques/snapshot/snapshot-session.js';
import type { SessionType } from '../control-api/control-api-types.js';
import { ControlError } from './control-error.js';
import { RequestFields, type JsonObject } from './request-body.js';
import type { ServedVolumes } from './served-volumes.js';
import type { SessionCreator, SessionRegistry } from './session-registry.js';
import type { SecondarySplits } from './secondary-splits.js';

const BACKUP_FIELDS = [
  'type',
  'volume',
  'tape',
  'datasets',
  'workers',
  'force',
  'pauseAfter',
  'pauseMs',
  'throttleMbps',
  'tapeVolser',
  'referenceCopy',
  'onCbwError',
  'cbwTimeoutMs',
  'spool',
  'targetMbps',
  'incremental',
  'since',
  'rejoinSecondary',
] as const;
const CLONE_FIELDS = ['type', 'volume', 'target', 'precopy', 'activate', 'datasets', 'workers', 'throttleMbps', 'pauseAfter', 'pauseMs'] as const;
const MIRROR_FIELDS = ['type', 'volume', 'secondaries', 'resume', 'linkTimeoutMs', 'resyncPauseMs', 'pauseAfter', 'pauseMs', 'throttleMbps', 'force'] as const;
const SNAPSHOT_FIELDS = ['type', 'volume', 'target', 'volser', 'datasets'] as const;
const CBW_POLICIES = ['break-backup', 'break-host-write'] as const;
/** Longest copy-before-write wait a request may ask for: ten minutes. */
const MAX_CBW_TIMEOUT_MS = 600_000;
/** Bounds of the pacing fields: a pause longer than a minute per copy is a stuck backup. */
const MAX_PAUSE_AFTER = 1_000_000;
const MAX_PAUSE_MS = 60_000;
const MAX_THROTTLE_MBPS = 100_000;
/** A resync step that waits more than 10 s between 16-track steps is a stalled resync. */
const MAX_RESYNC_PAUSE_MS = 10_000;
/** Link timeout bounds: below 100 ms loopback jitter trips it; above a minute a host write hangs too long. */
const MIN_LINK_TIMEOUT_MS = 100;
const MAX_LINK_TIMEOUT_MS = 60_000;

function cbwPolicy(text: string | undefined): (typeof CBW_POLICIES)[number] | undefined {
  if (text === undefined) return undefined;
  const policy = CBW_POLICIES.find((p) => p === text);
  if (!policy) throw new ControlError('BAD_REQUEST', `Cannot use onCbwError "${text}": expected break-backup or break-host-write`, { field: 'onCbwError' });
  return policy;
}

function optionalPath(text: string | undefined): string | undefined {
  return text === undefined ? undefined : resolve(text);
}

/** Validates a backup request, takes the optional reference copy, and starts the backup. */
const startBackup: SessionCreator = (request: JsonObject, context) => {
  const fields = new RequestFields(request);
  fields.onlyThese(BACKUP_FIELDS);
  const served = context.volumes.get(fields.string('volume'));
  const tapePath = resolve(fields.string('tape'));
  const referenceCopy = fields.optionalString('referenceCopy');
  if (referenceCopy !== undefined && !context.testHooks) {
    throw new ControlError('BAD_REQUEST', 'Cannot accept field "referenceCopy": the server was not started with --test-hooks', { field: 'referenceCopy' });
  }
  const options = {
    tapePath,
    datasets: fields.optionalStringList('datasets'),
    workers: fields.optionalInteger('workers', { min: 1, max: MAX_COPY_WORKERS }),
    force: fields.optionalBoolean('force'),
    pauseAfter: fields.optionalInteger('pauseAfter', { min: 0, max: MAX_PAUSE_AFTER }),
    pauseMs: fields.optionalInteger('pauseMs', { min: 0, max: MAX_PAUSE_MS }),
    throttleMbps: fields.optionalNumber('throttleMbps', { min: 0, max: MAX_THROTTLE_MBPS }),
    tapeVolser: fields.optionalString('tapeVolser'),
    onCbwError: cbwPolicy(fields.optionalString('onCbwError')),
    cbwTimeoutMs: fields.optionalInteger('cbwTimeoutMs', { min: 1, max: MAX_CBW_TIMEOUT_MS }),
    spoolPath: optionalPath(fields.optionalString('spool')),
    targetMbps: fields.optionalNumber('targetMbps', { min: 0.001, max: MAX_THROTTLE_MBPS }),
    incremental: fields.optionalBoolean('incremental'),
    since: fields.optionalString('since'),
  };
  // From here to the interceptor's registration nothing yields: this is the start instant.
  if (referenceCopy !== undefined) {
    try {
      copyFileSync(served.volume.path, resolve(referenceCopy));
    } catch (error) {
      throw translateIoError(error, 'copy the reference image', referenceCopy);
    }
  }
  const rejoinSecondary = fields.optionalBoolean('rejoinSecondary') ?? false;
  const splits = context.secondarySplits;
  if (rejoinSecondary && (splits === undefined || !splits.isSplit(served.name)))
    throw new ControlError('BAD_REQUEST', `Cannot accept field "rejoinSecondary": ${served.name} is not split from the secondary's side`, {
      field: 'rejoinSecondary',
    });
  const session = TapeBackupSession.start(served.volume, options);
  session.trackMap();
  if (rejoinSecondary && splits !== undefined) rejoinWhenBackedUp(session, splits, served.name);
  return { session, volumeName: served.name };
};

/**
 * The end-of-backup signal of a split taken from the secondary's side: once the backup has
 * completed, the split ends (the primary's mirror then rejoins by itself). A backup that failed or
 * was cancelled leaves the split, so the frozen image stays for another try.
 */
function rejoinWhenBackedUp(session: TapeBackupSession, splits: SecondarySplits, volumeName: string): void {
  void session.settled.then(() => {
    if (session.status().state !== 'completed' || !splits.isSplit(volumeName)) return;
    try {
      splits.rejoin(volumeName);
    } catch {
      // The split stays and GET /volumes shows it: the operator ends it with mirror rejoin --from-secondary.
    }
  });
}

/** Validates a clone request and runs CREATE (and PRECOPY or ACTIVATE, if asked) at once. */
const startClone: SessionCreator = (request: JsonObject, context) => {
  const fields = new RequestFields(request);
  fields.onlyThese(CLONE_FIELDS);
  const source = context.volumes.get(fields.string('volume'));
  const target = context.volumes.get(fields.string('target'));
  const session = CloneSession.create(source.volume, target.volume, {
    id: context.id,
    precopy: fields.optionalBoolean('precopy'),
    activate: fields.optionalBoolean('activate'),
    datasets: fields.optionalStringList('datasets'),
    workers: fields.optionalInteger('workers', { min: 1, max: MAX_COPY_WORKERS }),
    throttleMbps: fields.optionalNumber('throttleMbps', { min: 0, max: MAX_THROTTLE_MBPS }),
    pauseAfter: fields.optionalInteger('pauseAfter', { min: 0, max: MAX_PAUSE_AFTER }),
    pauseMs: fields.optionalInteger('pauseMs', { min: 0, max: MAX_PAUSE_MS }),
  });
  return { session, volumeName: source.name };
};

/** Creates a mirror (or, with `resume`, takes up the one in `<image>.mirror`). */
const startMirror: SessionCreator = (request: JsonObject, context) => {
  const fields = new RequestFields(request);
  fields.onlyThese(MIRROR_FIELDS);
  const served = context.volumes.get(fields.string('volume'));
  const resume = fields.optionalBoolean('resume') ?? false;
  const options = {
    volumeName: served.name,
    sessionName: `session ${context.id}`,
    linkTimeoutMs: fields.optionalInteger('linkTimeoutMs', { min: MIN_LINK_TIMEOUT_MS, max: MAX_LINK_TIMEOUT_MS }),
    resyncPauseMs: fields.optionalInteger('resyncPauseMs', { min: 0, max: MAX_RESYNC_PAUSE_MS }),
    pauseAfter: fields.optionalInteger('pauseAfter', { min: 0, max: MAX_PAUSE_AFTER }),
    pauseMs: fields.optionalInteger('pauseMs', { min: 0, max: MAX_PAUSE_MS }),
    throttleMbps: fields.optionalNumber('throttleMbps', { min: 0.001, max: MAX_THROTTLE_MBPS }),
    force: fields.optionalBoolean('force') ?? false,
  };
  if (resume) return { session: MirrorSession.resume(served.volume, options), volumeName: served.name };
  const secondaries = fields.optionalStringList('secondaries');
  if (secondaries === undefined)
    throw new ControlError('BAD_REQUEST', 'Cannot accept the request: field "secondaries" is required to create a mirror', { field: 'secondaries' });
  return { session: MirrorSession.create(served.volume, secondaries, options), volumeName: served.name };
};

/** Validates a snapshot request and runs define and execute at once on the served volumes. */
const startSnapshot: SessionCreator = (request: JsonObject, context) => {
  const fields = new RequestFields(request);
  fields.onlyThese(SNAPSHOT_FIELDS);
  const source = context.volumes.get(fields.string('volume'));
  const target = context.volumes.get(fields.string('target'));
  if (source === target)
    throw new SessionError(`Cannot snapshot ${source.name} onto itself: give another served volume as the target`, { volume: source.name });
  const session = new SnapshotSession(source.volume.path, target.volume.path, {
    volser: fields.optionalString('volser'),
    datasets: fields.optionalStringList('datasets'),
    held: { source: source.volume, target: target.volume },
    targetName: target.name,
  });
  session.start();
  return { session, volumeName: source.name };
};

/** The creator of each session type the server serves. */
export const SESSION_CREATORS: Readonly<Record<SessionType, SessionCreator>> = {
  backup: startBackup,
  clone: startClone,
  mirror: startMirror,
  snapshot: startSnapshot,
};

/** Resumes the mirror of every served volume that has a state file; returns one warning per failure. */
export function resumeMirrors(registry: SessionRegistry, volumes: ServedVolumes): string[] {
  const warnings: string[] = [];
  for (const served of volumes.list()) {
    if (served.volume.readOnly || !existsSync(mirrorFilePath(served.volume.path))) continue;
    try {
      registry.start({ type: 'mirror', volume: served.name, resume: true });
    } catch (error) {
      const message = isSnaptapeError(error) || error instanceof ControlError ? error.message : String(error);
      warnings.push(`mirror of ${served.name} not resumed: ${message}`);
    }
  }
  return warnings;
}

/**
 * Step 1 of a clone resume, before the server opens its images (opening takes over stale locks):
 * the unfinished clone recorded beside each image. A record that cannot be read is a warning.
 */
export function findClonesToResume(imagePaths: readonly string[], warnings: string[]): CloneResumePlan[] {
  const plans: CloneResumePlan[] = [];
  for (const path of imagePaths) {
    try {
      const plan = findCloneToResume(resolve(path));
      if (plan) plans.push(plan);
    } catch (error) {
      warnings.push(`clone onto ${path} not resumed: ${isSnaptapeError(error) ? error.message : String(error)}`);
    }
  }
  return plans;
}

/**
 * Step 2, with the images open: takes up each clone whose source and destination are served here
 * (before the NBD listener opens, so no host write goes unprotected); a clone that cannot resume
 * is a warning.
 */
export function resumeClones(registry: SessionRegistry, volumes: ServedVolumes, plans: readonly CloneResumePlan[]): string[] {
  const warnings: string[] = [];
  const served = (path: string) => volumes.list().find((v) => resolve(v.volume.path) === resolve(path));
  for (const plan of plans) {
    const { record } = plan;
    const source = served(record.source);
    const target = served(record.target);
    if (!source || !target) {
      warnings.push(
        `clone ${record.id} of ${record.source} onto ${record.target} not resumed: serve both images to resume it (or run snaptape clone resume ${record.target})`,
      );
      continue;
    }
    try {
      registry.adopt('clone', (id) => {
        const restored = restoreCloneToResume(plan, source.volume, target.volume);
        let session: CloneSession;
        try {
          session = CloneSession.resume(source.volume, target.volume, restored, { id });
        } catch (error) {
          restored.file.close();
          throw error;
        }
        return { session, volumeName: source.name };
      });
    } catch (error) {
      warnings.push(`clone ${record.id} of ${record.source} onto ${record.target} not resumed: ${isSnaptapeError(error) ? error.message : String(error)}`);
    }
  }
  return warnings;
}
