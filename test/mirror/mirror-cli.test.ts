/**
 * Layer: CLI. `snaptape mirror create|status|split|rejoin|remove --server` against a running
 * `snaptape serve` child that owns the primary, with a local secondary image: the link states show
 * in `status --json`, `rejoin --wait` returns in sync, and `remove` deletes the state file.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SessionInfo } from '../../src/control-api/control-api-types.js';
import type { MirrorSessionStatus } from '../../src/techniques/mirror/mirror-types.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe } from '../server/helpers/serve-process.js';
import { filesIdentical, makeBlankSecondary } from './mirror-fixtures.js';

afterAll(() => killAllServers());

describe('snaptape mirror', () => {
  it('creates, shows, splits, rejoins and removes a mirror through the server', async () => {
    const dir = makeTempDir('snaptape-mirror-cli-');
    try {
      const primary = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: 4 });
      const secondary = makeBlankSecondary(dir.path, 'sec.ckd', 4);
      const socket = join(dir.path, 'ctl.sock');
      const server = await startServe([primary, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
      const created = runSnaptapeJson<SessionInfo>(['mirror', 'create', 'prim', secondary, '--server', socket, '--wait']);
      expect((created.progress as unknown as MirrorSessionStatus).mirrors[0]?.inSync).toBe(true);

      const text = runSnaptape(['mirror', 'status', 'prim', '--server', socket]);
      expect(text.status).toBe(0);
      expect(text.stdout).toMatch(/M2\s+ONGOING\s+in sync/);

      const split = runSnaptapeJson<SessionInfo>(['mirror', 'split', 'prim', '--server', socket]);
      expect((split.progress as unknown as MirrorSessionStatus).mirrors[0]?.state).toBe('BACKUP');
      const again = runSnaptape(['mirror', 'split', 'prim', '--server', socket]);
      expect(again.status).not.toBe(0);
      expect(again.stderr).toMatch(/Cannot split mirror M2 of prim: it is BACKUP/);

      const rejoined = runSnaptapeJson<SessionInfo>(['mirror', 'rejoin', 'prim', '--server', socket, '--wait']);
      expect((rejoined.progress as unknown as MirrorSessionStatus).mirrors[0]?.state).toBe('ONGOING');
      const status = runSnaptapeJson<{ mirrors: SessionInfo[] }>(['mirror', 'status', '--server', socket]);
      expect(status.mirrors).toHaveLength(1);

      const removed = runSnaptape(['mirror', 'remove', 'prim', '--server', socket]);
      expect(removed.status).toBe(0);
      expect(existsSync(`${primary}.mirror`)).toBe(false);
      await server.stop();
      expect(filesIdentical(primary, secondary)).toBe(true);
      const missing = runSnaptape(['mirror', 'status', 'prim', '--server', socket]);
      expect(missing.status).not.toBe(0);
    } finally {
      dir.cleanup();
    }
  });
});
