/**
 * Layer: CLI against two real servers (secondary-split-fixtures.ts), run on the secondary's side:
 * - a failing `--pre-split` hook: exit status of HookError, the hook's output in the message, no
 *   split, no tape, the mirror ONGOING and in sync with its split count unchanged (from the
 *   secondary's `mirror backup` and from the primary's `mirror split` alike);
 * - then `mirror backup sec --to t.aws --rejoin`: one command splits, backs up and rejoins; the
 *   host writes from its post-split hook; the tape restores to the split instant, not later, and
 *   after the rejoin the secondary equals the primary.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { killAllServers } from '../server/helpers/serve-process.js';
import { filesIdentical } from './mirror-fixtures.js';
import { waitForMirror } from './remote-fixtures.js';
import { cli, cliJson, hostWrite, makeRig, qemuWriteCommand, stopRig } from './secondary-split-fixtures.js';

/** Two servers and several CLI runs: room for a loaded machine (each takes 10-30 s). */
const SCENARIO_TIMEOUT_MS = 120_000;

afterAll(() => killAllServers());

describe('mirror backup from the secondary side', () => {
  it(
    'mirror backup: a failing --pre-split hook splits nothing; with --rejoin one command splits, backs up and rejoins, the tape at the split instant',
    async () => {
      const rig = await makeRig();
      try {
        await hostWrite(rig, 0x11, 0, 64);
        const before = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
        const never = join(rig.dir.path, 'never.aws');
        const failed = await cli([
          'mirror',
          'backup',
          'sec',
          '--to',
          never,
          '--rejoin',
          '--server',
          rig.secondarySocket,
          '--pre-split',
          'echo "database busy: 3 open transactions" >&2; exit 3',
        ]);
        expect(failed.status).toBe(EXIT_STATUS_BY_CODE.HOOK);
        expect(failed.stderr).toMatch(/Cannot run the pre-split hook of sec .*exited with status 3; its output: database busy: 3 open transactions/);
        expect(existsSync(never)).toBe(false);
        expect(existsSync(`${rig.secondaryImage}.secondary-split`)).toBe(false);

        // The primary's own split takes the same hooks, and refuses the same way.
        const primarySide = await cli(['mirror', 'split', 'prim', '--server', join(rig.dir.path, 'prim.sock'), '--pre-split', 'exit 1']);
        expect(primarySide.status).toBe(EXIT_STATUS_BY_CODE.HOOK);

        const after = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
        expect(after.state).toBe('ONGOING');
        expect(after.splitCount).toBe(before.splitCount);
        expect(after.reconnects).toBe(0);
        expect(filesIdentical(rig.primaryImage, rig.secondaryImage)).toBe(true);

        const reference = join(rig.dir.path, 'ref.fba');
        copyFileSync(rig.primaryImage, reference);
        const tape = join(rig.dir.path, 't.aws');
        const marker = join(rig.dir.path, 'hooks.log');
        // The post-split hook is the application going on: it writes to the primary after the split instant.
        const write = ['qemu-io', ...qemuWriteCommand(rig, 0x33, 200, 64).map((a) => `'${a}'`)].join(' ');
        const result = await cliJson<{ split: { splitAt: string }; backup: { state: string }; rejoined: boolean; hooks: { phase: string; output: string }[] }>([
          'mirror',
          'backup',
          'sec',
          '--to',
          tape,
          '--rejoin',
          '--server',
          rig.secondarySocket,
          '--pre-split',
          `echo "pre $SNAPTAPE_HOOK $SNAPTAPE_VOLUME $SNAPTAPE_SIDE" >> ${marker}`,
          '--post-split',
          `${write} && echo "post $SNAPTAPE_HOOK" >> ${marker}`,
        ]);
        expect(result.backup.state).toBe('completed');
        expect(result.rejoined).toBe(true);
        expect(result.hooks.map((h) => h.phase)).toEqual(['pre-split', 'post-split']);
        expect(readFileSync(marker, 'utf8')).toBe('pre pre-split sec secondary\npost post-split\n');

        const restored = join(rig.dir.path, 'restored.fba');
        expect((await cli(['restore', tape, '--to', restored, '--new-volume'])).status).toBe(0);
        expect(filesIdentical(restored, reference)).toBe(true);
        expect(filesIdentical(restored, rig.primaryImage)).toBe(false);

        await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
        await stopRig(rig);
        expect(filesIdentical(rig.primaryImage, rig.secondaryImage)).toBe(true);
      } finally {
        rig.dir.cleanup();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});
