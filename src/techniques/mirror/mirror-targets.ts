/**
 * Secondaries of a mirrored volume: where each one is (a local image path, or the NBD export of
 * another `snaptape serve`), and how a local one is opened and checked.
 *
 * Remote targets, with libnbd's URI forms for the protected transports:
 *   host:port[/export]                                  plain TCP (a server with --insecure-tcp)
 *   nbd+unix:///export?socket=PATH                      the server's unix socket
 *   nbds://user@host:port/export?tls-psk-file=FILE      TCP with TLS-PSK (or tls-username=user)
 * Socket and key file paths are stored absolute; the key itself is read from FILE at each
 * connect, so it is never stored in the .mirror file.
 *
 * Decision: a local secondary is opened (and locked) only while its link state sends it writes.
 * When it is split (BACKUP) it is closed, so that any tool, in this process or another, can back
 * it up or read it; `rejoin` opens it again, and fails if someone else holds it. Its role file
 * (local-secondary-role.ts) refuses writes by others while it is not split, and records them while
 * it is; the mirror's own open skips that guard.
 */
import { resolve } from 'node:path';
import { openVolume } from '../../volume/open-volume.js';
import { TargetExistsError, UsageError } from '../../errors/snaptape-error.js';
import { isNoVtocError, readVtoc } from '../../vtoc/vtoc-reader.js';
import type { Volume } from '../../volume/volume.js';
import type { RemoteAddress } from './link-channel.js';
import { MAX_TARGET_BYTES } from './mirror-limits.js';
import type { TargetKind } from './mirror-state-file.js';

export interface TargetSpec {
  readonly kind: TargetKind;
  /** As stored: an absolute image path, host:port/export, or a nbd+unix:// or nbds:// URI. */
  readonly target: string;
}

const REMOTE_PATTERN = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?:\/(.*))?$/;

const URI_PATTERN = /^(nbd\+unix|nbds):\/\//;

/** Parses a nbd+unix:// or nbds:// target; the stored form has absolute paths. */
function parseUri(spec: string): { stored: string; address: RemoteAddress } {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new UsageError(`Cannot parse mirror target ${spec}: not a URI`, { target: spec });
  }
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.protocol === 'nbd+unix:') {
    const socket = url.searchParams.get('socket');
    if (socket === null || socket === '' || url.host !== '')
      throw new UsageError(`Cannot parse mirror target ${spec}: expected nbd+unix:///export?socket=PATH`, { target: spec });
    const socketPath = resolve(socket);
    return { stored: `nbd+unix:///${encodeURIComponent(exportName)}?socket=${socketPath}`, address: { kind: 'unix', socketPath, exportName } };
  }
  const pskFile = url.searchParams.get('tls-psk-file');
  const username = url.searchParams.get('tls-username') ?? decodeURIComponent(url.username);
  const port = Number(url.port === '' ? '10809' : url.port);
  if (pskFile === null || pskFile === '' || username === '' || url.hostname === '') {
    throw new UsageError(`Cannot parse mirror target ${spec}: expected nbds://user@host:port/export?tls-psk-file=FILE`, { target: spec });
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const tls = { pskFile: resolve(pskFile), username };
  return {
    stored: `nbds://${encodeURIComponent(username)}@${url.hostname}:${port}/${encodeURIComponent(exportName)}?tls-psk-file=${tls.pskFile}`,
    address: { kind: 'tcp', host, port, exportName, tls },
  };
}

/** `host:port[/export]` and nbd+unix:// or nbds:// URIs are remote; anything else is a local image path. */
export function parseTarget(spec: string): TargetSpec {
  if (spec.length === 0) throw new UsageError('Cannot use an empty mirror target');
  if (URI_PATTERN.test(spec)) {
    const { stored } = parseUri(spec);
    if (Buffer.byteLength(stored, 'latin1') > MAX_TARGET_BYTES)
      throw new UsageError(`Cannot use mirror target ${stored}: longer than ${MAX_TARGET_BYTES} characters`, { target: stored });
    return { kind: 'remote', target: stored };
  }
  const match = REMOTE_PATTERN.exec(spec);
  if (match) {
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw new UsageError(`Cannot use mirror target ${spec}: port ${port} is not 1-65535`, { target: spec });
    return { kind: 'remote', target: `${match[1] ?? ''}:${port}/${match[3] ?? ''}` };
  }
  return { kind: 'local', target: resolve(spec) };
}

export function remoteAddress(target: string): RemoteAddress {
  if (URI_PATTERN.test(target)) return parseUri(target).address;
  const match = REMOTE_PATTERN.exec(target);
  if (!match) throw new UsageError(`Cannot parse remote mirror target ${target}: expected host:port/export`, { target });
  return { kind: 'tcp', host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(match[2]), exportName: match[3] ?? '' };
}

/** Opens a local secondary for writing and checks it has the primary's shape. */
export function openLocalSecondary(path: string, primary: Volume): Volume {
  if (resolve(path) === resolve(primary.path)) throw new UsageError(`Cannot mirror ${primary.path} onto itself`, { path });
  const volume = openVolume(path, { readOnly: false, mirrorSecondary: true });
  if (volume.unitCount !== primary.unitCount || volume.backend.slotBytes !== primary.backend.slotBytes || volume.geometry.kind !== primary.geometry.kind) {
    const shape = `${volume.unitCount} units of ${volume.backend.slotBytes} bytes`;
    volume.close();
    throw new UsageError(
      `Cannot use ${path} as a mirror of ${primary.path}: it has ${shape}, the primary ${primary.unitCount} of ${primary.backend.slotBytes}`,
      { path },
    );
  }
  return volume;
}

/** Data set names listed in full in the refusal; the rest are counted. */
const NAMES_SHOWN = 5;

/**
 * Refuses a local secondary whose VTOC lists data sets (issue 18.8): the mirror's first copy
 * overwrites every track, so that is done only with `force`. Decision: data sets in the VTOC are
 * the rule (a blank or freshly initialised volume, or one without a VTOC, is taken as it is); a
 * VTOC that cannot be read is refused too, since what it holds cannot be told.
 */
export function checkSecondaryHoldsNoData(secondary: Volume, primary: Volume): void {
  if (secondary.geometry.kind !== 'ckd') return;
  const advice = 'the mirror would overwrite it (use --force, or "force": true in the request, to overwrite)';
  let names: string[];
  let volser: string;
  try {
    const view = readVtoc(secondary);
    names = view.datasets.map((d) => d.name);
    volser = view.label.volser;
  } catch (error) {
    if (isNoVtocError(error)) return;
    throw new TargetExistsError(
      `Cannot mirror ${primary.path} onto ${secondary.path}: its VTOC cannot be read (${error instanceof Error ? error.message : String(error)}); ${advice}`,
      { path: secondary.path },
    );
  }
  if (names.length === 0) return;
  const shown = names.slice(0, NAMES_SHOWN).join(', ') + (names.length > NAMES_SHOWN ? ` and ${names.length - NAMES_SHOWN} more` : '');
  throw new TargetExistsError(`Cannot mirror ${primary.path} onto ${secondary.path}: volume ${volser} holds ${names.length} data sets (${shown}); ${advice}`, {
    path: secondary.path,
    volser,
    datasets: names.length,
  });
}
