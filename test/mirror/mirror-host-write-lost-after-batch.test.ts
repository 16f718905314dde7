/**
 * Layer: behaviour, with the secondary in a child process (the primary's host write blocks its
 * thread until the link answers). Review of the remote mirror's batches in flight. A host write to
 * a unit of a background batch still in flight waits until that batch is answered, then is sent
 * itself. When the batch is acknowledged but the host write's own send fails, the unit goes invalid
 * and the mirror is suspended; the batch's acknowledgement, which the owning thread takes up only
 * after that, must not mark the unit valid again: the secondary has the batch's bytes, not the
 * host write's, and the resync after the link is back must send the unit again.
 *
 * The secondary is an NBD server over memory (dist/, `npm run build` first) that holds the batch
 * writing unit U for 600 ms, says so on stdout, and fails the next write of U (EIO).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { createVolume } from '../../src/volume/open-volume.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { Prng } from './mirror-fixtures.js';

const BLOCKS = 4096;
const BLOCK = 512;
const UNIT = 100;
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

const SECONDARY = `
import { NbdServer } from ${JSON.stringify(join(DIST, 'export/nbd-server.js'))};
import { IoError } from ${JSON.stringify(join(DIST, 'errors/snaptape-error.js'))};
const size = ${BLOCKS * BLOCK};
const at = ${UNIT * BLOCK};
const data = Buffer.alloc(size);
let writesOfUnit = 0;
const backend = {
  name: 'sec', sizeBytes: size, readOnly: false, canTrim: false,
  read: (offset, length) => Buffer.from(data.subarray(offset, offset + length)),
  write: (offset, bytes) => void bytes.copy(data, offset),
  async writeAsync(offset, scattered) {
    // The server may hand the payload as the socket's chunks (a list of views).
    const bytes = Array.isArray(scattered) ? Buffer.concat(scattered) : scattered;
    if (offset <= at && at < offset + bytes.length) {
      writesOfUnit += 1;
      if (writesOfUnit === 1) {
        process.stdout.write('batch\\n');
        await new Promise((resolve) => setTimeout(resolve, 600));
      } else if (writesOfUnit === 2) {
        throw new IoError('Cannot write block ${UNIT}: injected failure', {});
      }
    }
    bytes.copy(data, offset);
  },
  writeZeroes: (offset, length) => void data.fill(0, offset, offset + length),
  flush: () => undefined,
  mirrorLink() {
    return { backend, unitCount: ${BLOCKS}, writtenUnits: [], commit: () => undefined };
  },
};
const server = new NbdServer({ exports: [backend] });
const { port } = await server.listen();
process.stdout.write('port ' + port + '\\n');
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
`;

let dir: TempDir | undefined;
let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
  dir?.cleanup();
  dir = undefined;
});

describe('a host write to a unit of a remote batch in flight, whose own send fails', () => {
  it('leaves the unit invalid, and the resync sends it again', async () => {
    expect(existsSync(join(DIST, 'techniques/mirror/link-worker.js')), 'npm run build first').toBe(true);
    dir = makeTempDir('snaptape-mirror-lost-host-write-');
    child = spawn(process.execPath, ['--input-type=module', '-e', SECONDARY], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const seen: string[] = [];
    const waiters: Array<{ line: string; resolve: () => void }> = [];
    lines.on('line', (line) => {
      seen.push(line);
      for (const w of waiters.filter((x) => line.startsWith(x.line))) w.resolve();
    });
    const lineStarting = (prefix: string): Promise<string> =>
      new Promise((resolve) => {
        const found = seen.find((l) => l.startsWith(prefix));
        if (found !== undefined) resolve(found);
        else waiters.push({ line: prefix, resolve: () => resolve(seen.find((l) => l.startsWith(prefix)) ?? '') });
      });
    const port = Number((await lineStarting('port ')).split(' ')[1]);

    const prng = new Prng(5);
    const primary: Volume = createVolume(join(dir.path, 'prim.fba'), { type: 'fba', blocks: BLOCKS, volser: 'PRIM01' });
    const fill = Buffer.alloc((BLOCKS - 2) * BLOCK);
    for (let i = 0; i < fill.length; i++) fill[i] = 1 + prng.below(255);
    primary.writeBlocks(2, fill);
    const mirror = MirrorSession.create(primary, [`127.0.0.1:${port}/sec`], { linkTimeoutMs: 5_000 });
    const hostBytes = Buffer.alloc(BLOCK, 0x5a);
    try {
      // The batch that holds the unit is on its way: the host writes the unit now. Its send waits
      // for the batch's answer (600 ms), and then fails.
      await lineStarting('batch');
      primary.writeBlocks(UNIT, hostBytes);
      // The link comes back by itself; the resync must send the unit the host write could not.
      await mirror.whenInSync({ timeoutMs: 20_000 });
      const client = await NbdClient.connect({ port, exportName: 'sec' });
      try {
        expect((await client.read(UNIT * BLOCK, BLOCK)).equals(hostBytes)).toBe(true);
      } finally {
        await client.disconnect();
      }
    } finally {
      await mirror.remove();
      primary.close();
    }
  }, 40_000);
});
