/**
 * Layer: protocol. snaptape's mirror-link NBD option over a VolumeBackend on a real image: what the
 * secondary's server tells the link, and when it forgets the tracks written while split. PROTECT
 * lists them and keeps them (the primary may crash before it has them durably); FORGET lists them
 * and forgets them at its GO. Other connections: read-only (EPERM) while protected, writable and
 * recorded while split; an ordinary export without the option's support refuses it.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { MemoryBackend } from './helpers/memory-backend.js';

let server: NbdServer | undefined;
let volume: Volume | undefined;
let dir: TempDir | undefined;
afterEach(async () => {
  await server?.close();
  volume?.close();
  dir?.cleanup();
  server = undefined;
  volume = undefined;
  dir = undefined;
});

describe('the mirror-link NBD option', () => {
  it('protects, splits and records, lists the record until FORGET, and releases', async () => {
    dir = makeTempDir('snaptape-nbd-link-');
    volume = createVolume(join(dir.path, 'sec.ckd'), { type: '3390', cylinders: 2, volser: 'SEC001' });
    const slot = volume.backend.slotBytes;
    server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'sec' })] });
    const { port } = await server.listen();
    const link = (mode: 'protect' | 'split' | 'forget' | 'release'): Promise<NbdClient> => NbdClient.connect({ port, exportName: 'sec', mirrorLink: mode });

    const first = await link('protect');
    expect(first.mirrorLinkWrites).toEqual([]);
    await first.write(3 * slot, Buffer.alloc(512, 1));
    const other = await NbdClient.connect({ port, exportName: 'sec' });
    expect(other.info.readOnly).toBe(true);
    await expect(other.write(4 * slot, Buffer.alloc(512, 2))).rejects.toThrow(/EPERM/);
    await other.disconnect();
    await first.disconnect();

    await (await link('split')).disconnect();
    const writer = await NbdClient.connect({ port, exportName: 'sec' });
    expect(writer.info.readOnly).toBe(false);
    await writer.write(7 * slot + 10, Buffer.alloc(100, 3));
    await writer.write(20 * slot, Buffer.alloc(2 * slot, 4));
    await writer.disconnect();

    const again = await link('protect');
    expect(again.mirrorLinkWrites).toEqual([7, 20, 21]);
    await again.disconnect();
    const forget = await link('forget');
    expect(forget.mirrorLinkWrites).toEqual([7, 20, 21]);
    await forget.disconnect();
    const after = await link('protect');
    expect(after.mirrorLinkWrites).toEqual([]);
    await after.disconnect();

    await (await link('release')).disconnect();
    const free = await NbdClient.connect({ port, exportName: 'sec' });
    expect(free.info.readOnly).toBe(false);
    await free.write(5 * slot, Buffer.alloc(512, 5));
    await free.disconnect();
  });

  it('is refused by an export that cannot be a secondary', async () => {
    server = new NbdServer({ exports: [new MemoryBackend({ name: 'mem', sizeBytes: 1 << 20 })] });
    const { port } = await server.listen();
    await expect(NbdClient.connect({ port, exportName: 'mem', mirrorLink: 'protect' })).rejects.toThrow(/cannot be a mirror secondary/);
  });
});
