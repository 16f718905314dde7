/**
 * Layer: unit. Review of the NBD WRITEs in flight against a mirror link taking a served secondary.
 * While the secondary is split, its guard records the units a client writes (durably, before the
 * write) and lets the pwrite land later on the libuv pool. When the primary's link takes the export
 * back (`mirrorLink('protect')`), it is granted those units to resend; a client write that passed
 * the chain before the grant must have landed by then, else it can land after the primary's resend
 * of the same unit and leave the secondary unlike the primary, with nothing left to say so.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { occupyLibuvPool } from '../harness/busy-libuv-pool.js';

let dir: TempDir | undefined;
let volume: Volume | undefined;
afterEach(() => {
  volume?.close();
  volume = undefined;
  dir?.cleanup();
  dir = undefined;
});

describe('a mirror link taking a served secondary with client writes in flight', () => {
  it('is granted the secondary only once the client writes before it have landed', async () => {
    dir = makeTempDir('snaptape-link-deferred-');
    volume = createVolume(join(dir.path, 'sec.fba'), { type: 'fba', blocks: 131072, volser: 'LINKDF' });
    const backend = new VolumeBackend(volume, { name: 'sec' });
    // Split from the primary: the guard records what clients write here.
    await backend.mirrorLink('split');
    const busy = occupyLibuvPool();
    // A client's 32 MiB write, deferred (the split guard is deferredWriteSafe), still queued on the pool.
    const client = backend.writeAsync(0, Buffer.alloc(32 << 20, 0xc1));
    expect(volume.deferredWritesInFlight).toBe(1);
    const grant = await Promise.resolve(backend.mirrorLink('protect'));
    const inFlightAtGrant = volume.deferredWritesInFlight;
    // The primary resends a unit the client wrote (its last 4 KiB), as the grant tells it to.
    const resendAt = (32 << 20) - 4096;
    const resend = grant.backend.writeAsync?.(resendAt, Buffer.alloc(4096, 0xa5));
    await busy;
    await Promise.all([client, resend]);
    expect(grant.writtenUnits.length).toBeGreaterThan(0);
    expect(inFlightAtGrant).toBe(0);
    // The primary's resend is what the secondary holds.
    expect(volume.readFlat(resendAt, 4096).equals(Buffer.alloc(4096, 0xa5))).toBe(true);
  }, 30_000);
});
