/**
 * Layers: CLI + interop. `restore --new-volume` hashes the tape on a worker thread while it writes:
 * the tape is read into two shared windows in turn, and a block that is not a view into a window
 * (one stored as several AWSTAPE chunks, joined when read) is copied to the worker in its turn. The
 * digest still covers every block in order: a tape of more than two 8 MiB windows, with every
 * other block split into two chunks, restores `cmp`-identical to its source; one byte flipped in
 * its last window is refused with VERIFY and leaves no new volume behind.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { dataPayloadOffset, expectCliFailure } from '../backup/backup-test-helpers.js';
import { HASH_WORD } from '../../src/techniques/restore/hash-channel-layout.js';

const MIB = 1024 * 1024;
/** 30 cylinders of a dense 3390: a tape of about 25 MB, three reader windows. */
const CYLINDERS = 30;
const TRACKS = CYLINDERS * 15;
const AWS_HEADER = 6;
const NEW_RECORD = 0x80;
const END_OF_RECORD = 0x20;

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);

/**
 * The tape with every other block of more than 1 KiB stored as two chunks (an independent AWSTAPE
 * walk): the same blocks, so the same digests, but read back joined rather than as window views.
 */
function splitEveryOtherBlock(tape: Buffer): Buffer {
  const out: Buffer[] = [];
  let offset = 0;
  let previous = 0;
  let big = 0;
  const header = (length: number, flags: number): Buffer => {
    const h = Buffer.alloc(AWS_HEADER);
    h.writeUInt16LE(length, 0);
    h.writeUInt16LE(previous, 2);
    h[4] = flags;
    previous = length;
    return h;
  };
  while (offset + AWS_HEADER <= tape.length) {
    const length = tape.readUInt16LE(offset);
    const flags = tape[offset + 4] as number;
    const data = tape.subarray(offset + AWS_HEADER, offset + AWS_HEADER + length);
    offset += AWS_HEADER + length;
    if (flags === (NEW_RECORD | END_OF_RECORD) && length > 1024 && big++ % 2 === 0) {
      const half = Math.floor(length / 2);
      out.push(header(half, NEW_RECORD), data.subarray(0, half), header(length - half, END_OF_RECORD), data.subarray(half));
    } else {
      out.push(header(length, flags), data);
    }
  }
  return Buffer.concat(out);
}

beforeAll(() => {
  dir = makeTempDir('snaptape-restore-hash-');
  runSnaptapeOk(['init', at('src.ckd'), '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'HASH01']);
  runSnaptapeOk(['fill', at('src.ckd'), '--percent', '100', '--seed', '11']);
  runSnaptapeOk(['backup', at('src.ckd'), '--to', at('full.aws')]);
  writeFileSync(at('split.aws'), splitEveryOtherBlock(readFileSync(at('full.aws'))));
}, 120_000);
afterAll(() => dir.cleanup());

describe(`restore --new-volume of a dense ${CYLINDERS}-cylinder 3390, every other block in two chunks`, () => {
  it('gives an image cmp-identical to the source', () => {
    expect(readFileSync(at('split.aws')).length).toBeGreaterThan(readFileSync(at('full.aws')).length);
    expect(readFileSync(at('full.aws')).length).toBeGreaterThan(2 * 8 * MIB);
    runSnaptapeOk(['restore', at('split.aws'), '--to', at('restored.ckd'), '--new-volume']);
    const cmp = runTool('cmp', [at('src.ckd'), at('restored.ckd')]);
    expect(cmp.status, cmp.stdout + cmp.stderr).toBe(0);
  });

  it('is refused with VERIFY, and leaves no new volume, when a byte of its last window is flipped', () => {
    const bytes = readFileSync(at('split.aws'));
    const flip = dataPayloadOffset(at('split.aws'), TRACKS + Math.floor(TRACKS / 2) - 3) + 100;
    expect(flip).toBeGreaterThan(2 * 8 * MIB);
    bytes[flip] = (bytes[flip] as number) ^ 0xff;
    writeFileSync(at('corrupt.aws'), bytes);
    const r = runSnaptape(['restore', at('corrupt.aws'), '--to', at('from-corrupt.ckd'), '--new-volume']);
    expectCliFailure(r, 'VERIFY', ['FULLVOLUME.HASH01']);
    expect(existsSync(at('from-corrupt.ckd'))).toBe(false);
  });
});

describe(`restore onto an existing ${CYLINDERS}-cylinder 3390 (verified first, then written), every other block in two chunks`, () => {
  it('gives an image cmp-identical to the source', () => {
    runSnaptapeOk(['init', at('existing.ckd'), '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'OLD001']);
    runSnaptapeOk(['restore', at('split.aws'), '--to', at('existing.ckd')]);
    const cmp = runTool('cmp', [at('src.ckd'), at('existing.ckd')]);
    expect(cmp.status, cmp.stdout + cmp.stderr).toBe(0);
  });

  it('is refused with VERIFY, and leaves the volume as it was, when a byte of its last window is flipped', () => {
    const bytes = readFileSync(at('split.aws'));
    const flip = dataPayloadOffset(at('split.aws'), TRACKS + Math.floor(TRACKS / 2) - 3) + 100;
    bytes[flip] = (bytes[flip] as number) ^ 0xff;
    writeFileSync(at('corrupt-old.aws'), bytes);
    runSnaptapeOk(['init', at('old.ckd'), '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'OLD002']);
    const before = sha256File(at('old.ckd'));
    const r = runSnaptape(['restore', at('corrupt-old.aws'), '--to', at('old.ckd')]);
    expectCliFailure(r, 'VERIFY', ['FULLVOLUME.HASH01']);
    expect(sha256File(at('old.ckd'))).toBe(before);
  });
});

describe('native-layout/restore-hash-channel.md', () => {
  it('names every control word at its index', () => {
    const page = readFileSync(new URL('../../native-layout/restore-hash-channel.md', import.meta.url), 'utf8');
    for (const [name, index] of Object.entries(HASH_WORD)) expect(page).toContain(`| ${index} | ${name} |`);
  });
});
