/**
 * Helpers shared by the tape backup tests (test/backup/*.test.ts): the one-line CLI failure check,
 * a data set volume with known text, where a data block's payload is on a tape, `hetmap -a` parsed into labels and files, and a backup through
 * the API that is guaranteed to race host writes (synchronous writes right after the start instant,
 * before the main thread can yield to let the session finish, plus the synthetic HostLoad).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import type { ErrorCode } from '../../src/errors/snaptape-error.js';
import type { CliResult } from '../harness/run-cli.js';

/** Checks a CLI failure: exit status of `code`, one stderr line "snaptape: Cannot ...", nothing on stdout. */
export function expectCliFailure(result: CliResult, code: ErrorCode, mentions: readonly (string | RegExp)[] = []): string {
  const lines = result.stderr.split('\n').filter((l) => l.length > 0);
  expect(result.status, `exit status (stderr: ${result.stderr})`).toBe(EXIT_STATUS_BY_CODE[code]);
  expect(lines, `exactly one stderr line, got: ${result.stderr}`).toHaveLength(1);
  const line = lines[0] as string;
  expect(line).toMatch(/^snaptape: Cannot /);
  for (const m of mentions) {
    if (typeof m === 'string') expect(line).toContain(m);
    else expect(line).toMatch(m);
  }
  expect(result.stdout).toBe('');
  return line;
}

/** Files beside a tape that a backup may leave (the tape and its session record). */
export function tapeArtifacts(tape: string): string[] {
  return [tape, `${tape}.session.json`, `${tape}.session.bitmap`].filter((p) => existsSync(p));
}

export interface HetmapLabel {
  readonly label: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface HetmapFile {
  readonly fileNumber: number;
  readonly blocks: number;
  readonly uncompressedBytes: number;
}

/** `hetmap -a` output: every label section (with its quoted fields) and every file section. */
export function parseHetmapAll(stdout: string): { labels: HetmapLabel[]; files: HetmapFile[] } {
  const sections = stdout.split(/^-{10,}\s*$/m);
  const labels: HetmapLabel[] = [];
  const files: HetmapFile[] = [];
  for (const section of sections) {
    const label = /^Label\s+: '([^']*)'/m.exec(section);
    if (label) {
      const fields: Record<string, string> = {};
      for (const m of section.matchAll(/^([A-Za-z][A-Za-z/ .]*?)\s+: '([^']*)'/gm)) fields[(m[1] as string).trim()] = m[2] as string;
      labels.push({ label: label[1] as string, fields });
      continue;
    }
    const file = /File #\s+: (\d+)\s+Blocks\s+: (\d+)[\s\S]*?Uncompressed bytes\s+: (\d+)/.exec(section);
    if (file) files.push({ fileNumber: Number(file[1]), blocks: Number(file[2]), uncompressedBytes: Number(file[3]) });
  }
  return { labels, files };
}

/** Byte offset of the payload of the data block `blockIndex` of the first data set (an independent AWS walk). */
export function dataPayloadOffset(tape: string, blockIndex: number): number {
  const bytes = readFileSync(tape);
  let offset = 0;
  let tapemarks = 0;
  let dataBlock = 0;
  while (offset + 6 <= bytes.length) {
    const length = bytes.readUInt16LE(offset);
    const flags1 = bytes[offset + 4] as number;
    if (flags1 & 0x40) {
      tapemarks++;
      offset += 6;
      continue;
    }
    // File 1 is VOL1 + header labels; after the first tapemark come the data blocks.
    if (tapemarks === 1 && dataBlock++ === blockIndex) return offset + 6;
    offset += 6 + length;
  }
  throw new Error(`no data block ${blockIndex} in ${tape}`);
}

/** One entry of an AWSTAPE file: a block (one chunk) or a tapemark, at the offset of its header. */
export interface AwsEntry {
  readonly kind: 'block' | 'tapemark';
  readonly offset: number;
  readonly length: number;
}

/** Every entry of an AWSTAPE file by an independent walk of its 6-byte headers (one chunk per block). */
export function awsEntries(bytes: Buffer): AwsEntry[] {
  const entries: AwsEntry[] = [];
  for (let offset = 0; offset + 6 <= bytes.length;) {
    const length = bytes.readUInt16LE(offset);
    entries.push({ kind: (bytes[offset + 4] as number) & 0x40 ? 'tapemark' : 'block', offset, length });
    offset += 6 + length;
  }
  return entries;
}

/** The data block payloads of the first data set (file 1's data), by an independent AWS walk. */
export function firstDataSetPayloads(tape: string): Buffer[] {
  const bytes = readFileSync(tape);
  const payloads: Buffer[] = [];
  let tapemarks = 0;
  for (let offset = 0; offset + 6 <= bytes.length && tapemarks < 2;) {
    const length = bytes.readUInt16LE(offset);
    if ((bytes[offset + 4] as number) & 0x40) tapemarks++;
    else if (tapemarks === 1) payloads.push(bytes.subarray(offset + 6, offset + 6 + length));
    offset += 6 + length;
  }
  return payloads;
}

/** UTL1's BLKSHA256 by hand (native-layout/backup-tape-labels.md): SHA-256 of each payload's SHA-256, in order. */
export function blockSha256Of(payloads: readonly Buffer[]): string {
  const outer = createHash('sha256');
  for (const p of payloads) outer.update(createHash('sha256').update(p).digest());
  return outer.digest('hex');
}
