/**
 * Tokens of the snapshot protocol (issue 6), kept in `<dir>/tokens/` of the subsystem folder as
 * JSON (native-layout/snapshot-token.md). `define` gives a token; `execute` uses it once and gives
 * a polling token; `status` reads the state through the polling token.
 *
 * A token as printed is `<id>@<subsystem folder>`, so that execute and status find the folder.
 * The id is `S` (define) or `P` (polling) and 16 hex digits; anything else is refused as unknown,
 * before any path is built from it.
 *
 * State machine (one table, one transition function):
 *   defined --execute--> complete          (a pointer copy is complete when execute returns)
 *   defined --execute-physical--> copying  (the background physical image is being written)
 *   copying --finish--> complete,  copying --fail--> failed
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { readRegularFileText } from '../../base/file-io.js';
import { join, resolve } from 'node:path';
import { SessionError } from '../../errors/snaptape-error.js';
import { translateIoError } from '../../errors/io-error.js';
import { durableReplace } from '../../image/durable-replace.js';
import { TOKENS_DIR } from '../../subsystem/subsystem-layouts.js';
import type { TrackRun } from '../../vtoc/extent.js';

export type TokenState = 'defined' | 'copying' | 'complete' | 'failed';
export type TokenVerb = 'execute' | 'execute-physical' | 'finish' | 'fail';

export const TOKEN_TRANSITIONS: Readonly<Record<TokenState, Partial<Record<TokenVerb, TokenState>>>> = {
  defined: { execute: 'complete', 'execute-physical': 'copying' },
  copying: { finish: 'complete', fail: 'failed' },
  complete: {},
  failed: {},
};

/** A defined token older than this is stale: a host defines and executes in one step of a job. */
export const TOKEN_TTL_MS = 15 * 60 * 1000;
const TOKEN_RECORD_VERSION = 1;
const ID_PATTERN = /^[SP][0-9a-f]{16}$/;
/** Random bytes of an id: 64 bits, so ids never collide in one folder. */
const ID_BYTES = 8;

export interface DatasetPair {
  readonly name: string;
  readonly sourceRuns: readonly TrackRun[];
  readonly targetRuns: readonly TrackRun[];
  readonly trackCount: number;
}

/** How the physical copy is paced (`--pause-after`, `--pause-ms`, `--throttle-mbps`). */
export interface PhysicalCopyPacing {
  /** Pause the copy after every this many tracks copied (0: never). */
  readonly pauseAfter?: number;
  readonly pauseMs?: number;
  /** Cap of the copy rate, MB/s (10^6 bytes). */
  readonly throttleMbps?: number;
}

export interface PhysicalCopyState {
  readonly path: string;
  readonly pinId: string;
  readonly pid: number | null;
  readonly tracksDone: number;
  readonly tracksTotal: number;
  readonly error: string | null;
  /** Absent in a record written before pacing existed: unpaced. */
  readonly pacing?: PhysicalCopyPacing;
}

export interface TokenRecord {
  readonly version: number;
  readonly id: string;
  readonly dir: string;
  readonly state: TokenState;
  readonly createdMs: number;
  readonly mode: 'volume' | 'datasets';
  readonly source: string;
  readonly target: string;
  readonly volser: string | null;
  readonly pairs: readonly DatasetPair[];
  /** What the extents looked like at define; a different one at execute makes the token stale. */
  readonly fingerprint: string;
  readonly pollingId: string | null;
  readonly executedMs: number | null;
  readonly physical: PhysicalCopyState | null;
}

export function newId(kind: 'S' | 'P'): string {
  return `${kind}${randomBytes(ID_BYTES).toString('hex')}`;
}

export function formatToken(id: string, dir: string): string {
  return `${id}@${resolve(dir)}`;
}

/** Splits a printed token; refuses one whose id is not ours (unknown). */
export function parseToken(token: string, kind: 'S' | 'P'): { id: string; dir: string } {
  const at = token.indexOf('@');
  const id = at < 0 ? token : token.slice(0, at);
  const dir = at < 0 ? '' : token.slice(at + 1);
  const what = kind === 'S' ? 'snapshot token' : 'polling token';
  if (!ID_PATTERN.test(id) || id[0] !== kind || dir === '') {
    throw new SessionError(`Cannot use ${what} "${token}": unknown token (expected ${kind}<16 hex digits>@<subsystem folder>, as define/execute print it)`, {
      token,
    });
  }
  return { id, dir };
}

function recordPath(dir: string, id: string): string {
  return join(dir, TOKENS_DIR, `${id}.json`);
}

export function saveRecord(record: TokenRecord): void {
  const path = recordPath(record.dir, record.id);
  try {
    mkdirSync(join(record.dir, TOKENS_DIR), { recursive: true });
    durableReplace(path, `${JSON.stringify(record, null, 2)}\n`, `save snapshot token ${record.id}`);
  } catch (error) {
    throw translateIoError(error, `save snapshot token ${record.id}`, path);
  }
}

/** The polling id's file names the define record it belongs to. */
export function savePollingLink(dir: string, pollingId: string, id: string): void {
  const path = recordPath(dir, pollingId);
  durableReplace(path, `${JSON.stringify({ version: TOKEN_RECORD_VERSION, pollingId, id })}\n`, `save polling token ${pollingId}`);
}

function readJson(path: string, token: string): unknown {
  const text = readRegularFileText(path, `the record of token ${token}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SessionError(`Cannot use token ${token}: its record ${path} is damaged`, { token, path });
  }
}

export function loadRecord(dir: string, id: string, token: string): TokenRecord {
  const path = recordPath(dir, id);
  if (!existsSync(path)) throw new SessionError(`Cannot use token ${token}: unknown token (no record in ${join(dir, TOKENS_DIR)})`, { token });
  const record = readJson(path, token) as Partial<TokenRecord>;
  if (record.version !== TOKEN_RECORD_VERSION || record.id !== id || typeof record.state !== 'string' || !(record.state in TOKEN_TRANSITIONS)) {
    throw new SessionError(`Cannot use token ${token}: its record ${path} is damaged`, { token, path });
  }
  return record as TokenRecord;
}

/** The define record behind a polling token. */
export function loadByPollingToken(token: string): TokenRecord {
  const { id: pollingId, dir } = parseToken(token, 'P');
  const path = recordPath(dir, pollingId);
  if (!existsSync(path)) throw new SessionError(`Cannot use polling token ${token}: unknown token (no record in ${join(dir, TOKENS_DIR)})`, { token });
  const link = readJson(path, token) as { pollingId?: unknown; id?: unknown };
  if (link.pollingId !== pollingId || typeof link.id !== 'string' || !ID_PATTERN.test(link.id)) {
    throw new SessionError(`Cannot use polling token ${token}: its record ${path} is damaged`, { token, path });
  }
  return loadRecord(dir, link.id, token);
}

/** The one place a token changes state; a verb its state does not allow is a clear error. */
export function transition(record: TokenRecord, verb: TokenVerb, token: string): TokenState {
  const next = TOKEN_TRANSITIONS[record.state][verb];
  if (next === undefined) {
    const why =
      record.state === 'defined'
        ? 'it has not been executed'
        : record.pollingId
          ? `it was already executed (polling token ${formatToken(record.pollingId, record.dir)}, state ${record.state})`
          : `it is ${record.state}`;
    throw new SessionError(`Cannot ${verb} snapshot token ${token}: ${why}`, { token, state: record.state });
  }
  return next;
}
