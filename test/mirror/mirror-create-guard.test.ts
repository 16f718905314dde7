/**
 * Layer: library API and CLI. `mirror create` does not overwrite a local secondary whose VTOC lists
 * data sets unless asked (issue 18.8): without `force` (the `--force` flag, the control API's
 * `force` field) it is a TARGET_EXISTS error naming the secondary, its volser and its data sets,
 * and nothing is written; with it the mirror is made. A blank secondary needs no force.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { TargetExistsError } from '../../src/errors/snaptape-error.js';
import type { SessionInfo } from '../../src/control-api/control-api-types.js';
import type { MirrorSessionStatus } from '../../src/techniques/mirror/mirror-types.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { mirrorFilePath } from '../../src/techniques/mirror/mirror-state-file.js';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { sha256File } from '../harness/dasd.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe } from '../server/helpers/serve-process.js';
import { filesIdentical, makeBlankSecondary } from './mirror-fixtures.js';

afterAll(() => killAllServers());

describe('mirror create onto a secondary that holds data sets', () => {
  it('library: refused without force (nothing written), made with force', async () => {
    const dir = makeTempDir('snaptape-mirror-guard-');
    try {
      const primaryPath = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: 4, seed: 1 });
      const secondaryPath = makeFilledVolume(dir.path, 'sec.ckd', { cylinders: 4, seed: 2, volser: 'SEC002' });
      const before = sha256File(secondaryPath);
      const primary = openVolume(primaryPath);
      try {
        let caught: unknown;
        try {
          MirrorSession.create(primary, [secondaryPath]);
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(TargetExistsError);
        expect((caught as Error).message).toMatch(/sec\.ckd.*SEC002.*FILL\.D0001.*--force/);
        expect(sha256File(secondaryPath)).toBe(before);
        expect(existsSync(mirrorFilePath(primaryPath))).toBe(false);

        const mirror = MirrorSession.create(primary, [secondaryPath], { force: true });
        await mirror.whenInSync();
        await mirror.remove();
        expect(filesIdentical(primaryPath, secondaryPath)).toBe(true);
      } finally {
        primary.close();
      }
    } finally {
      dir.cleanup();
    }
  });

  it('CLI: exit 13 naming the data sets without --force; --force mirrors', async () => {
    const dir = makeTempDir('snaptape-mirror-guard-cli-');
    try {
      const primary = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: 4, seed: 1 });
      const secondary = makeFilledVolume(dir.path, 'sec.ckd', { cylinders: 4, seed: 2, volser: 'SEC002' });
      const blank = makeBlankSecondary(dir.path, 'blank.ckd', 4);
      const before = sha256File(secondary);
      const socket = join(dir.path, 'ctl.sock');
      await startServe([primary, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
      const refused = runSnaptape(['mirror', 'create', 'prim', secondary, '--server', socket]);
      expectCliFailure(refused, 'TARGET_EXISTS', ['sec.ckd', 'SEC002', 'FILL.D0001', '--force']);
      expect(sha256File(secondary)).toBe(before);
      // Also when it is one of several secondaries: the blank one is not mirrored either.
      expectCliFailure(runSnaptape(['mirror', 'create', 'prim', blank, secondary, '--server', socket]), 'TARGET_EXISTS', ['sec.ckd']);

      const created = runSnaptapeJson<SessionInfo>(['mirror', 'create', 'prim', secondary, '--force', '--server', socket, '--wait']);
      expect((created.progress as unknown as MirrorSessionStatus).mirrors[0]?.inSync).toBe(true);
      expect(runSnaptape(['mirror', 'remove', 'prim', '--server', socket]).status).toBe(0);
      expect(filesIdentical(primary, secondary)).toBe(true);
    } finally {
      dir.cleanup();
    }
  });
});
