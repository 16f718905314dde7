/**
 * Secondaries of a mirrored volume: where each one is (a local image path, or `host:port[/export]`
 * of another `snaptape serve`), and how a run of units is written to a local one.
 *
 * Decision: a local secondary is opened (and locked) only while its link state sends it writes.
 * When it is split (BACKUP) it is closed, so that any tool, in this process or another, can back
 * it up or read it; `rejoin` opens it again, and fails if someone else holds it.
 */
import { resolve } from 'node:path';
import { openVolume } from '../../api/volume-api.js';
import { UsageError } from '../../errors/snaptape-error.js';
import type { Volume } from '../../volume/volume.js';
import type { RemoteAddress } from './link-channel.js';
import type { TargetKind } from './mirror-state-file.js';

export interface TargetSpec {
  readonly kind: TargetKind;
  /** As stored: an absolute image path, or host:port/export. */
  readonly target: string;
}

const REMOTE_PATTERN = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?:\/(.*))?$/;

/** `host:port[/export]` is remote; anything else is a local image path. */
export function parseTarget(spec: string): TargetSpec {
  if (spec.length === 0) throw new UsageError('Cannot use an empty mirror target');
  const match = REMOTE_PATTERN.exec(spec);
  if (match) {
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw new UsageError(`Cannot use mirror target ${spec}: port ${port} is not 1-65535`, { target: spec });
    return { kind: 'remote', target: `${match[1] ?? ''}:${port}/${match[3] ?? ''}` };
  }
  return { kind: 'local', target: resolve(spec) };
}

export function remoteAddress(target: string): RemoteAddress {
  const match = REMOTE_PATTERN.exec(target);
  if (!match) throw new UsageError(`Cannot parse remote mirror target ${target}: expected host:port/export`, { target });
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(match[2]), exportName: match[3] ?? '' };
}

/** Opens a local secondary for writing and checks it has the primary's shape. */
export function openLocalSecondary(path: string, primary: Volume): Volume {
  if (resolve(path) === resolve(primary.path)) throw new UsageError(`Cannot mirror ${primary.path} onto itself`, { path });
  const volume = openVolume(path, { readOnly: false });
  if (volume.unitCount !== primary.unitCount || volume.backend.slotBytes !== primary.backend.slotBytes || volume.geometry.kind !== primary.geometry.kind) {
    const shape = `${volume.unitCount} units of ${volume.backend.slotBytes} bytes`;
    volume.close();
    throw new UsageError(`Cannot use ${path} as a mirror of ${primary.path}: it has ${shape}, the primary ${primary.unitCount} of ${primary.backend.slotBytes}`, { path });
  }
  return volume;
}

/** Writes whole slots of the primary to a local secondary, through its own write chain. */
export function copyUnitsToLocal(primary: Volume, secondary: Volume, units: readonly number[]): void {
  const slot = primary.backend.slotBytes;
  for (const unit of units) secondary.writeFlat(unit * slot, primary.backend.readUnit(unit, slot));
}
