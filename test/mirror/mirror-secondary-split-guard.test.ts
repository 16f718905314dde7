/**
 * Layer: scenario with two real servers. A split from the secondary's side is a point in time only
 * when the mirror was in sync: a secondary its own server splits during the mirror's initial copy
 * is never taken for a split (the primary keeps it SUSPENDED and says why in `lastError`), and the
 * reconnect after the secondary's server ends that split is reported as a reconnect, not as the end
 * of a backup; the initial copy then completes and the images are identical.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { killAllServers, nbdPort, startServe } from '../server/helpers/serve-process.js';
import { filesIdentical } from './mirror-fixtures.js';
import { waitForMirror } from './remote-fixtures.js';

/** 4 MiB: four of the initial copy's 1 MiB batches, so that a split can land between two of them. */
const BLOCKS = 8192;

/** Two servers and several CLI runs: room for a loaded machine (each takes 10-30 s). */
const SCENARIO_TIMEOUT_MS = 120_000;

afterAll(() => killAllServers());

describe('a split from the secondary side during the initial copy', () => {
  it(
    'is no point in time: the mirror stays SUSPENDED, and the reconnect after it is reported, not taken for an end of backup',
    async () => {
      const dir = makeTempDir('snaptape-mirror-secondary-guard-');
      try {
        const primaryImage = join(dir.path, 'prim.fba');
        const secondaryImage = join(dir.path, 'sec.fba');
        runSnaptapeOk(['init', primaryImage, '--type', 'fba', '--blocks', String(BLOCKS), '--volser', 'PRI001']);
        runSnaptapeOk(['init', secondaryImage, '--type', 'fba', '--blocks', String(BLOCKS), '--volser', 'SEC001']);
        const secondary = await startServe([secondaryImage, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir.path, 'sec.sock')]);
        const primary = await startServe([primaryImage, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir.path, 'prim.sock')]);
        const primaryControl = new ControlClient({ kind: 'unix', socketPath: join(dir.path, 'prim.sock') });
        const secondaryControl = new ControlClient({ kind: 'unix', socketPath: join(dir.path, 'sec.sock') });
        // A slow initial copy (about 8 s for 4 MiB in 1 MiB batches), so that the split lands in the middle of it.
        const session = await primaryControl.startSession({
          type: 'mirror',
          volume: 'prim',
          secondaries: [`127.0.0.1:${nbdPort(secondary.info)}/sec`],
          linkTimeoutMs: 800,
          throttleMbps: 0.5,
        });
        await waitForMirror(primaryControl, session.id, (m) => (m.resync?.copied ?? 0) > 0);
        expect((await secondaryControl.splitSecondary('sec')).split).toBe(true);

        const refused = await waitForMirror(primaryControl, session.id, (m) => /no point in time/.test(m.lastError ?? ''));
        expect(refused.state).toBe('SUSPENDED');
        expect(refused.splitBy ?? null).toBeNull();
        expect(refused.splitCount).toBe(0);
        expect(refused.lastError).toMatch(/split by its secondary server for a backup since .*; but M2 was SUSPENDED and not in sync/);

        expect((await secondaryControl.rejoinSecondary('sec')).split).toBe(false);
        const done = await waitForMirror(primaryControl, session.id, (m) => m.inSync);
        expect(done.reconnects).toBe(1);
        expect(done.lastReconnect?.endOfBackup).toBe(false);
        await primary.stop();
        await secondary.stop();
        expect(filesIdentical(primaryImage, secondaryImage)).toBe(true);
      } finally {
        dir.cleanup();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});
