/**
 * Helpers of the `snaptape check` tests: copies of the Hercules vectors to damage, byte offsets
 * found from first principles (AWSTAPE chunk headers, CKD count fields; not from src/), the CLI
 * report, and a file's bytes and mtime to show a check without --repair wrote nothing.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runSnaptape } from '../harness/run-cli.js';
import { HERCULES_3390, trackOffset3390 } from '../harness/dasd.js';
import { vectorPath } from '../harness/vectors.js';

/** The report `snaptape check --json` prints (src/check/check-report.ts). */
export interface CheckJson {
  readonly path: string;
  readonly kind: string;
  readonly format: string;
  readonly description: string;
  readonly problems: readonly {
    kind: string;
    location: { text: string; offsetBytes?: number; blockNumber?: number; track?: number; cchhr?: string; slot?: number };
    message: string;
  }[];
  readonly repaired: readonly string[];
  readonly remaining: readonly { kind: string }[];
  readonly notRepaired: readonly string[];
  readonly clean: boolean;
}

/** Runs `snaptape check <path> [--repair] --json`; returns the exit status and the report. */
export function checkJson(path: string, options: { repair?: boolean } = {}): { status: number; report: CheckJson; stderr: string } {
  const r = runSnaptape(['check', path, ...(options.repair ? ['--repair'] : []), '--json']);
  let report: CheckJson;
  try {
    report = JSON.parse(r.stdout) as CheckJson;
  } catch {
    throw new Error(`snaptape check ${path} printed no report (status ${r.status}): ${r.stderr}`);
  }
  return { status: r.status, report, stderr: r.stderr };
}

/** A copy of vector `name` in `dir` under `as` (default: the vector's own name), to damage. */
export function copyVector(name: string, dir: string, as?: string): string {
  const source = vectorPath(name, dir);
  const out = join(dir, as ?? `copy-${basename(source)}`);
  copyFileSync(source, out);
  return out;
}

export function fileState(path: string): { sha256: string; mtimeMs: number; sizeBytes: number } {
  const s = statSync(path);
  return { sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), mtimeMs: s.mtimeMs, sizeBytes: s.size };
}

export function patchFile(path: string, offsetBytes: number, bytes: readonly number[] | Buffer): void {
  const data = readFileSync(path);
  Buffer.from(bytes).copy(data, offsetBytes);
  writeFileSync(path, data);
}

export interface AwsChunk {
  readonly offsetBytes: number;
  readonly curlen: number;
  readonly prvlen: number;
  readonly flags1: number;
}

/** Every chunk header of an AWSTAPE file (6 bytes: curlen LE16, prvlen LE16, flags1, flags2). */
export function awsChunks(path: string): AwsChunk[] {
  const data = readFileSync(path);
  const chunks: AwsChunk[] = [];
  for (let at = 0; at + 6 <= data.length; at += 6 + data.readUInt16LE(at)) {
    chunks.push({ offsetBytes: at, curlen: data.readUInt16LE(at), prvlen: data.readUInt16LE(at + 2), flags1: data[at + 4] as number });
  }
  return chunks;
}

export interface CkdRecordPlace {
  readonly record: number;
  readonly countOffset: number;
  readonly keyOffset: number;
  readonly dataOffset: number;
  readonly keyLength: number;
  readonly dataLength: number;
}

/** Records of track t of a single-file 3390 image: HA (5), then count (8) key data … until FF×8. */
export function ckdRecords(path: string, track: number): Map<number, CkdRecordPlace> {
  const data = readFileSync(path);
  const base = trackOffset3390(track);
  const out = new Map<number, CkdRecordPlace>();
  let at = base + 5;
  while (at + 8 <= base + HERCULES_3390.trackSlotBytes && data.readBigUInt64BE(at) !== 0xffff_ffff_ffff_ffffn) {
    const keyLength = data[at + 5] as number;
    const dataLength = data.readUInt16BE(at + 6);
    const record = data[at + 4] as number;
    out.set(record, { record, countOffset: at, keyOffset: at + 8, dataOffset: at + 8 + keyLength, keyLength, dataLength });
    at += 8 + keyLength + dataLength;
  }
  return out;
}

/** File offset of byte `dscbOffset` (0..139, key then data) of the DSCB that is record r of track t. */
export function dscbByte(path: string, track: number, record: number, dscbOffset: number): number {
  const place = ckdRecords(path, track).get(record);
  if (!place || place.keyLength !== 44 || place.dataLength !== 96) throw new Error(`track ${track} R${record} of ${path} is not a DSCB`);
  return place.keyOffset + dscbOffset;
}
