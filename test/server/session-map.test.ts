/**
 * Layer: CLI and control API (issue 12, items 1-3 on a server). A `snaptape serve` child owns a
 * clone source and destination and a mirror primary:
 * - `snaptape map <session-id> --server <socket> --svg` draws a running clone session's map: one
 *   cell per track of the volume, counts as the session reports them;
 * - GET /sessions/:id/map with `Accept-Encoding: gzip` answers gzip, which decodes to the same map
 *   as the plain answer, and to what the typed client returns;
 * - a mirror session's map (`--mirror M2`) has exactly the tracks written over NBD since a split
 *   pending, and none after the rejoin's resync, each resent by the copy;
 * - wrong requests are refused with the session named (a mirror on a clone, an unknown mirror).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, parseControlEndpoint } from '../../src/api/control-client.js';
import { createVolume } from '../../src/api/volume-api.js';
import type { SessionInfo } from '../../src/control-api/control-api-types.js';
import type { TrackMapSnapshot } from '../../src/session/session-view.js';
import type { CloneStatus } from '../../src/techniques/clone/clone-options.js';
import type { MirrorSessionStatus } from '../../src/techniques/mirror/mirror-types.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { rawRequest } from './helpers/http-request.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from './helpers/serve-process.js';
import { pollSession as pollSessionOn, rewriteTracksOverNbd } from './helpers/session-polling.js';

/** The clone's volumes: 1,050 tracks, so the map's JSON is past MIN_GZIP_BYTES and is compressed. */
const CLONE_CYLINDERS = 70;
const CLONE_TRACKS = CLONE_CYLINDERS * 15;
const CYLINDERS = 10;
const TRACKS = CYLINDERS * 15;

type MapJson = { kind: string; subject: string | null; unitCount: number; counts: TrackMapSnapshot['counts']; hostWrittenUnits: number; svg: string | null };

describe('track maps of running sessions on a server', () => {
  let dir: TempDir;
  let server: ServeProcess;
  let socket: string;
  let client: ControlClient;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-session-map-');
    const source = makeFilledVolume(dir.path, 'src.ckd', { cylinders: CLONE_CYLINDERS, seed: 4 });
    createVolume(join(dir.path, 'dst.ckd'), { type: '3390', cylinders: CLONE_CYLINDERS, volser: 'DST001' }).close();
    const primary = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: CYLINDERS, seed: 5 });
    socket = join(dir.path, 'ctl.sock');
    server = await startServe([source, join(dir.path, 'dst.ckd'), primary, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    client = new ControlClient(parseControlEndpoint(socket));
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    killAllServers();
    dir.cleanup();
  }, 60_000);

  const pollSession = (id: string, done: (s: SessionInfo) => boolean): Promise<SessionInfo> => pollSessionOn(client, id, done);

  function mapCli(args: readonly string[]): MapJson {
    const result = runSnaptape(['map', ...args, '--server', socket, '--json']);
    expect(result.status, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as MapJson;
  }

  it('map <clone-id> --server --svg draws one cell per track; gzip decodes to the same map', async () => {
    const started = await client.startSession({ type: 'clone', volume: 'src', target: 'dst', precopy: true });
    // The precopy runs until ACTIVATE: the session stays running, and once copied its map is still.
    const copied = await pollSession(started.id, (s) => (s.progress as unknown as CloneStatus).tracksLeft === 0);
    expect(copied.state).toBe('running');

    const svgPath = join(dir.path, 'clone.svg');
    const json = mapCli([started.id, '--svg', svgPath]);
    expect(json).toMatchObject({ kind: 'clone', unitCount: CLONE_TRACKS, svg: svgPath });
    const status = (await client.getSession(started.id)).progress as unknown as CloneStatus;
    expect(json.counts).toMatchObject({ pending: status.tracksLeft, copiedInOrder: status.precopied, recopied: status.recopies, copiedOutOfOrder: 0 });
    const svg = readFileSync(svgPath, 'utf8');
    expect([...svg.matchAll(/<rect class="cell"/g)].length).toBe(CLONE_TRACKS);
    expect(svg).toContain('copied by the background copy (in order)');

    const path = `/sessions/${started.id}/map`;
    const plain = await rawRequest({ socketPath: socket }, 'GET', path);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const zipped = await rawRequest({ socketPath: socket }, 'GET', path, { headers: { 'accept-encoding': 'br;q=1.0, gzip;q=0.8' } });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['vary']).toBe('accept-encoding');
    expect(zipped.bytes.length).toBeLessThan(plain.bytes.length);
    const decoded = JSON.parse(gunzipSync(zipped.bytes).toString('utf8')) as TrackMapSnapshot;
    const withoutTime = (m: TrackMapSnapshot): TrackMapSnapshot => ({ ...m, sampledAtMs: 0 });
    expect(withoutTime(decoded)).toEqual(withoutTime(plain.body as TrackMapSnapshot));
    expect(decoded.codes).toHaveLength(CLONE_TRACKS);
    // The typed client asks for gzip and decodes it.
    expect(withoutTime(await client.trackMap(started.id))).toEqual(withoutTime(decoded));
    // gzip;q=0 is a refusal.
    const refused = await rawRequest({ socketPath: socket }, 'GET', path, { headers: { 'accept-encoding': 'gzip;q=0' } });
    expect(refused.headers['content-encoding']).toBeUndefined();

    const wrong = await rawRequest({ socketPath: socket }, 'GET', `${path}?mirror=M2`);
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain(`session ${started.id}`);
    await client.cancel(started.id);
    await client.waitForSession(started.id);
  }, 90_000);

  it('a mirror map has the tracks written since the split pending, and none after the resync', async () => {
    const secondary = join(dir.path, 'sec.ckd');
    createVolume(secondary, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' }).close();
    const started = await client.startSession({ type: 'mirror', volume: 'prim', secondaries: [secondary] });
    const inSync = (s: SessionInfo): boolean => (s.progress as unknown as MirrorSessionStatus).mirrors[0]?.inSync === true;
    await pollSession(started.id, inSync);
    expect(mapCli([started.id, '--mirror', 'M2']).counts).toMatchObject({ pending: 0, copiedInOrder: TRACKS });

    await client.splitMirror(started.id, 'M2');
    const changed = [17, 18, 40, 99, 149];
    await rewriteTracksOverNbd(server, 'prim', TRACKS, changed);

    const split = mapCli([started.id, '--mirror', 'M2', '--svg', join(dir.path, 'mirror.svg')]);
    expect(split).toMatchObject({ kind: 'mirror', subject: 'M2', unitCount: TRACKS, hostWrittenUnits: changed.length });
    expect(split.counts).toMatchObject({ pending: changed.length, notInSession: TRACKS - changed.length });
    const drawn = readFileSync(join(dir.path, 'mirror.svg'), 'utf8');
    expect([...drawn.matchAll(/<rect class="cell" data-code="p"/g)].length).toBe(changed.length);
    expect(drawn).toContain('out of sync (to be resent)');

    await client.rejoinMirror(started.id, 'M2');
    const after = await pollSession(started.id, inSync);
    const resync = (after.progress as unknown as MirrorSessionStatus).mirrors[0]?.resync;
    const map = await client.trackMap(started.id);
    expect(map.subject).toBe('M2');
    expect(map.counts).toMatchObject({ pending: 0, copiedInOrder: resync?.copied, copiedOutOfOrder: resync?.sentByWrites });
    expect(map.counts.copiedInOrder + map.counts.copiedOutOfOrder).toBe(changed.length);

    const unknown = runSnaptape(['map', started.id, '--server', socket, '--mirror', 'M4']);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(new RegExp(`Cannot draw the map of mirror M4 of session ${started.id}: its mirrors are M2`));
    await client.removeMirror(started.id);
  }, 90_000);

  it('without --server the argument is a tape, and a missing map says to give --server', () => {
    const result = runSnaptape(['map', 'clone-1', '--json']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Cannot draw the map of clone-1: .* give --server/);
  });
});
