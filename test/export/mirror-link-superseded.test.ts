/**
 * Layer: scenario. Review of the NBD WRITEs in flight against a mirror's link. The link option
 * says of PROTECT: "this connection alone writes it". When the primary's link drops (a timeout: a
 * slow secondary) it destroys its socket and connects again; the server, which takes a FIN for a
 * half-close, goes on running the requests the old connection had buffered. A write of the old link
 * that the server runs after the new link has written the same unit leaves the secondary unlike the
 * primary, which counts that unit as sent. A newer link takes the export from the older one: what
 * the older one still sends is refused.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import type { ScatteredBytes } from '../../src/base/scattered-bytes.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { DelegatingBackend } from '../../src/image/delegating-backend.js';
import type { ImageBackend } from '../../src/image/image-backend.js';
import { openImage } from '../../src/image/open-image.js';
import { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** The image, with reads off the owning thread held until `open()`: a READ in flight stays there. */
class GatedReads extends DelegatingBackend {
  private opened: Promise<void>;
  open: () => void = () => undefined;

  constructor(inner: ImageBackend) {
    super(inner);
    this.opened = new Promise<void>((resolve) => (this.open = resolve));
  }

  readUnitsInto(firstUnit: number, into: Buffer, offsetInSlot = 0): void {
    this.inner.readUnitsInto?.(firstUnit, into, offsetInSlot);
  }

  async readUnitsIntoAsync(firstUnit: number, into: Buffer, offsetInSlot = 0): Promise<void> {
    await this.opened;
    await this.inner.readUnitsIntoAsync?.(firstUnit, into, offsetInSlot);
  }

  writeUnits(firstUnit: number, data: Uint8Array, offsetInSlot = 0): void {
    this.inner.writeUnits?.(firstUnit, data, offsetInSlot);
  }

  writeUnitsAsync(firstUnit: number, data: ScatteredBytes, offsetInSlot = 0): Promise<void> {
    return this.inner.writeUnitsAsync?.(firstUnit, data, offsetInSlot) ?? Promise.resolve();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let server: NbdServer | undefined;
let volume: Volume | undefined;
let dir: TempDir | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  volume?.close();
  volume = undefined;
  dir?.cleanup();
  dir = undefined;
});

async function servedSecondary(gated = false): Promise<{ port: number; gate: GatedReads | undefined }> {
  dir = makeTempDir('snaptape-link-superseded-');
  const path = join(dir.path, 'sec.fba');
  createVolume(path, { type: 'fba', blocks: 2048, volser: 'LINKSS' }).close();
  const gate = gated ? new GatedReads(openImage(path)) : undefined;
  volume = new Volume(gate ?? openImage(path));
  server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'sec' })] });
  const { port } = await server.listen();
  return { port, gate };
}

describe('a mirror link superseded by a newer one', () => {
  it('may not write the secondary any more', async () => {
    const { port } = await servedSecondary();
    const older = await NbdClient.connect({ port, exportName: 'sec', mirrorLink: 'protect' });
    const newer = await NbdClient.connect({ port, exportName: 'sec', mirrorLink: 'protect' });
    try {
      await newer.write(8 * 512, Buffer.alloc(512, 0xb2));
      await expect(older.write(8 * 512, Buffer.alloc(512, 0xa1))).rejects.toThrow(/EPERM/);
      expect((await newer.read(8 * 512, 512)).equals(Buffer.alloc(512, 0xb2))).toBe(true);
    } finally {
      older.destroy();
      await newer.disconnect();
    }
  });

  it('that the primary dropped does not land a buffered write after the new link wrote the unit', async () => {
    const { port, gate } = await servedSecondary(true);
    const older = await NbdClient.connect({ port, exportName: 'sec', mirrorLink: 'protect' });
    const unit = 40 * 512;
    // The old link's last requests: a READ held in flight, and behind it (it overlaps) a WRITE of old bytes.
    const read = older.read(unit, 512).catch(() => undefined);
    const stale = older.write(unit, Buffer.alloc(512, 0xa1)).catch(() => undefined);
    await sleep(50);
    // The primary times the link out: it destroys its socket and connects again.
    older.destroy();
    const newer = await NbdClient.connect({ port, exportName: 'sec', mirrorLink: 'protect' });
    try {
      // The new link resends the unit (the primary's bytes now), and has it acknowledged.
      await newer.write(unit, Buffer.alloc(512, 0xb2));
      gate?.open();
      await Promise.all([read, stale]);
      await sleep(50);
      await volume?.writesLanded();
      expect((await newer.read(unit, 512)).equals(Buffer.alloc(512, 0xb2))).toBe(true);
    } finally {
      await newer.disconnect();
    }
  });
});
