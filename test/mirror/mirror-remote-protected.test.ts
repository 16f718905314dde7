/**
 * A remote mirror over the protected NBD transports: the secondary's `snaptape serve` listens on
 * TCP with TLS-PSK (`--tls-psk`), or on its default unix socket, and the primary's link worker
 * reaches it through the target URI (nbds://user@host:port/export?tls-psk-file=FILE, or
 * nbd+unix:///export?socket=PATH). Host writes reach the primary over its own default unix socket.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, nbdPort, startServe } from '../server/helpers/serve-process.js';
import { filesIdentical, makeBlankSecondary } from './mirror-fixtures.js';
import { waitForMirror } from './remote-fixtures.js';

const CYLS = 4;
const SLOT_BYTES = 56_832;
const KEY = '2c129cff760bf04ca78a7218e6d20b959a6e6ead8892072e1e952dc563a89241';

async function mirrorAndWrite(dir: TempDir, secondaryTarget: string): Promise<void> {
  const primaryImage = join(dir.path, 'prim.ckd');
  const primary = await startServe([primaryImage, '--control', join(dir.path, 'prim.sock')]);
  const control = new ControlClient({ kind: 'unix', socketPath: join(dir.path, 'prim.sock') });
  const session = await control.startSession({ type: 'mirror', volume: 'prim', secondaries: [secondaryTarget] });
  await waitForMirror(control, session.id, (m) => m.inSync && m.state === 'ONGOING');
  if (primary.info.nbd.kind !== 'unix') throw new Error('the primary listens on its default unix socket');
  const host = await NbdClient.connect({ socketPath: primary.info.nbd.path, exportName: 'prim' });
  await host.write(20 * SLOT_BYTES + 64, Buffer.alloc(4096, 0x3c));
  await host.disconnect();
  await waitForMirror(control, session.id, (m) => m.inSync);
  expect(filesIdentical(primaryImage, join(dir.path, 'sec.ckd'))).toBe(true);
}

describe('remote mirror over unix sockets and TLS-PSK', () => {
  let dir: TempDir | undefined;
  afterEach(() => {
    killAllServers();
    dir?.cleanup();
  });

  it('mirrors to a secondary that requires TLS-PSK (nbds:// target)', async () => {
    dir = makeTempDir('snaptape-mirror-tls-');
    makeFilledVolume(dir.path, 'prim.ckd', { cylinders: CYLS, seed: 5 });
    const secondaryImage = makeBlankSecondary(dir.path, 'sec.ckd', CYLS);
    const keys = join(dir.path, 'keys.psk');
    writeFileSync(keys, `alice:${KEY}\n`, { mode: 0o600 });
    const secondary = await startServe([secondaryImage, '--nbd', '127.0.0.1:0', '--tls-psk', keys, '--control', join(dir.path, 'sec.sock')]);
    await mirrorAndWrite(dir, `nbds://alice@127.0.0.1:${nbdPort(secondary.info)}/sec?tls-psk-file=${keys}`);
  });

  it('mirrors to a secondary on its default unix socket (nbd+unix:// target)', async () => {
    dir = makeTempDir('snaptape-mirror-unix-');
    makeFilledVolume(dir.path, 'prim.ckd', { cylinders: CYLS, seed: 6 });
    const secondaryImage = makeBlankSecondary(dir.path, 'sec.ckd', CYLS);
    await startServe([secondaryImage, '--control', join(dir.path, 'sec.sock')]);
    await mirrorAndWrite(dir, `nbd+unix:///sec?socket=${secondaryImage}.nbd.sock`);
  });
});
