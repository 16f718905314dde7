/**
 * Layer: scenario with two real servers (secondary-split-fixtures.ts). A primary `snaptape serve`
 * mirrors an FBA volume onto the export of a second `snaptape serve` (loopback NBD); the split and
 * its end are run against the secondary's server only, as an operator on the secondary's site
 * would (claims 1A/8A of US 5,857,208), with qemu-io as the host writing to the primary:
 * `mirror split --from-secondary` sends the primary's mirror to BACKUP "split by the secondary" on
 * the next host write, which stays off the secondary; a restart of the secondary's server while
 * split keeps it split (a reconnect that is no end of backup is not taken for one); `mirror rejoin
 * --from-secondary` is the end-of-backup signal: the primary rejoins by itself, reports the
 * reconnect as an end of backup, and both images are identical.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import type { MirrorStatus } from '../../src/techniques/mirror/mirror-types.js';
import { killAllServers } from '../server/helpers/serve-process.js';
import { filesIdentical } from './mirror-fixtures.js';
import { waitForMirror } from './remote-fixtures.js';
import { cli, cliJson, hostWrite, makeRig, serveSecondary, stopRig } from './secondary-split-fixtures.js';

/** Two servers and several CLI runs: room for a loaded machine (each takes 10-30 s). */
const SCENARIO_TIMEOUT_MS = 120_000;

afterAll(() => killAllServers());

describe('a mirror split, backed up and rejoined from the secondary side', () => {
  it(
    'splits on the secondary, survives a restart of its server split, and rejoins on its end-of-backup signal',
    async () => {
      const rig = await makeRig();
      try {
        await hostWrite(rig, 0x11, 0, 64);
        const split = await cliJson<{ split: { split: boolean; splitAt: string } }>([
          'mirror',
          'split',
          'sec',
          '--from-secondary',
          '--server',
          rig.secondarySocket,
        ]);
        expect(split.split.split).toBe(true);
        expect(existsSync(`${rig.secondaryImage}.secondary-split`)).toBe(true);
        const atSplit = readFileSync(rig.secondaryImage);

        // The host goes on writing the primary: the write is refused on the link, the mirror splits.
        await hostWrite(rig, 0x22, 100, 32);
        const backup = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.state === 'BACKUP');
        expect(backup.splitBy).toBe('secondary');
        expect(backup.invalidTracks).toBe(32);
        expect(backup.inSync).toBe(false);
        expect(readFileSync(rig.secondaryImage).equals(atSplit)).toBe(true);

        // A restart of the secondary's server is no end of backup: the split is durable, the mirror stays split.
        await rig.secondary.stop();
        rig.secondary = await serveSecondary(rig.secondaryImage, rig.secondarySocket, rig.secondaryPort);
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        const stillSplit = (await rig.primaryControl.getSession(rig.mirrorId)).progress as unknown as { mirrors: MirrorStatus[] };
        expect(stillSplit.mirrors[0]?.state).toBe('BACKUP');
        expect(stillSplit.mirrors[0]?.lastReconnect ?? null).toBeNull();
        const listed = await cli(['mirror', 'split', 'sec', '--from-secondary', '--server', rig.secondarySocket]);
        expect(listed.status).toBe(EXIT_STATUS_BY_CODE.SESSION);
        expect(listed.stderr).toMatch(/Cannot split sec from the secondary's side: it is split since/);

        const rejoined = await cliJson<{ split: { split: boolean } }>(['mirror', 'rejoin', 'sec', '--from-secondary', '--server', rig.secondarySocket]);
        expect(rejoined.split.split).toBe(false);
        const ongoing = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
        expect(ongoing.lastReconnect?.endOfBackup).toBe(true);
        expect(ongoing.splitCount).toBe(1);
        expect(existsSync(`${rig.secondaryImage}.secondary-split`)).toBe(false);
        await stopRig(rig);
        expect(filesIdentical(rig.primaryImage, rig.secondaryImage)).toBe(true);
      } finally {
        rig.dir.cleanup();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});
