/**
 * Layer: CLI and control API, end to end on the compiled CLI. A `snaptape serve` owns a source and
 * a destination; `snaptape clone create --precopy`, `status --json`, `activate`, `terminate` and
 * `list` steer the session through the control API; an unknown session, a second ACTIVATE and an
 * early TERMINATE fail with their exit statuses; after the server stops, `clone status --target`
 * reads the record. `clone run` does CREATE → PRECOPY → ACTIVATE → TERMINATE in one process.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe } from '../server/helpers/serve-process.js';
import { makeTarget } from './clone-fixtures.js';

let dir: TempDir;

beforeAll(() => {
  dir = makeTempDir('snaptape-clone-cli-');
});
afterEach(() => killAllServers());
afterAll(() => dir.cleanup());

interface StatusJson {
  readonly id: string;
  readonly phase: string;
  readonly tracksLeft: number;
  readonly recopies: number;
  readonly flags: { precopy: boolean; active: boolean };
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  // Bounded: 300 × 50 ms.
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('snaptape clone', () => {
  it('create, status, activate, terminate and list through a server; misuse exits with its status', async () => {
    const source = makeFilledVolume(dir.path, 'src001.ckd', { cylinders: 5, seed: 21 });
    makeTarget(dir.path, 'dst001.ckd', { cylinders: 5 }).close();
    const target = join(dir.path, 'dst001.ckd');
    const socket = join(dir.path, 'control.sock');
    const server = await startServe([source, target, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    const created = runSnaptapeJson<StatusJson>(['clone', 'create', source, 'dst001', '--precopy', '--server', socket]);
    expect(created).toMatchObject({ phase: 'precopy', flags: { precopy: true, active: false } });
    const id = created.id;
    await waitFor(() => runSnaptapeJson<StatusJson>(['clone', 'status', id, '--server', socket]).tracksLeft === 0, 'the precopy');
    const early = runSnaptape(['clone', 'terminate', id, '--server', socket]);
    expect(early.status).toBe(EXIT_STATUS_BY_CODE.SESSION);
    expect(early.stderr).toMatch(/^snaptape: Cannot terminate clone session clone-\d+: it is precopy and 0 tracks are not copied yet/);
    const activated = runSnaptapeJson<StatusJson>(['clone', 'activate', id, '--server', socket]);
    expect(activated.flags).toEqual({ precopy: true, active: true });
    const twice = runSnaptape(['clone', 'activate', id, '--server', socket]);
    expect(twice.status).toBe(EXIT_STATUS_BY_CODE.SESSION);
    expect(twice.stderr).toContain('it is already active');
    const unknown = runSnaptape(['clone', 'activate', 'clone-99', '--server', socket]);
    expect(unknown.status).toBe(EXIT_STATUS_BY_CODE.USAGE);
    expect(unknown.stderr).toContain("Cannot find session 'clone-99'");
    await waitFor(() => runSnaptapeJson<StatusJson>(['clone', 'status', id, '--server', socket]).phase === 'copied', 'the copy');
    const text = runSnaptape(['clone', 'list', '--server', socket]);
    expect(text.stdout).toContain(`${id}  ${source} -> ${target}`);
    expect(runSnaptapeJson<StatusJson>(['clone', 'terminate', id, '--server', socket]).phase).toBe('terminated');
    const stopped = await server.stop();
    expect(stopped.code).toBe(0);
    const stored = runSnaptapeJson<{ complete: boolean; phase: string }>(['clone', 'status', '--target', target]);
    expect(stored).toMatchObject({ complete: true, phase: 'terminated' });
    expect(compareImages(source, target).mismatched).toBe(0);
  });

  it('a server shut down mid-copy leaves a record that says unfinished, never complete', async () => {
    const source = makeFilledVolume(dir.path, 'src002.ckd', { cylinders: 30, seed: 22 });
    makeTarget(dir.path, 'dst002.ckd', { cylinders: 30 }).close();
    const target = join(dir.path, 'dst002.ckd');
    const socket = join(dir.path, 'control2.sock');
    const server = await startServe([source, target, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    runSnaptapeJson(['clone', 'create', 'src002', 'dst002', '--activate', '--throttle-mbps', '0.5', '--server', socket]);
    await server.stop();
    const stored = runSnaptapeJson<{ complete: boolean; phase: string; tracksLeft: number }>(['clone', 'status', '--target', target]);
    expect(stored.complete).toBe(false);
    expect(stored.phase).toBe('cancelled');
    expect(stored.tracksLeft).toBeGreaterThan(0);
  });

  it('clone run: a one-shot clone in one process', () => {
    const source = makeFilledVolume(dir.path, 'src003.ckd', { cylinders: 4, seed: 23 });
    makeTarget(dir.path, 'dst003.ckd', { cylinders: 4 }).close();
    const target = join(dir.path, 'dst003.ckd');
    const result = runSnaptapeJson<{ final: StatusJson; atActivate: StatusJson }>(['clone', 'run', source, target, '--precopy']);
    expect(result.atActivate.tracksLeft).toBe(0);
    expect(result.final.phase).toBe('terminated');
    expect(compareImages(source, target).mismatched).toBe(0);
    makeTarget(dir.path, 'small.ckd', { cylinders: 2 }).close();
    const bad = runSnaptape(['clone', 'run', source, join(dir.path, 'small.ckd')]);
    expect(bad.status).toBe(EXIT_STATUS_BY_CODE.USAGE);
    expect(bad.stderr).toMatch(/Cannot create clone session .*: the destination is too small: it has 30 tracks, the source 60/);
  });
});
