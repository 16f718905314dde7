/**
 * Acceptance test of the live page for clone and mirror sessions (issue 12): `snaptape serve` with
 * a TCP control address, the page in headless Chromium (playwright-core, Debian chromium), one
 * session followed at a time with `?session=ID`. Checks that the page draws each session's map with
 * its own legend (labels of the kind, codes it never produces hidden) and the counters of its type,
 * equal to the session's status: a clone whose precopy re-copies tracks written over NBD, and a
 * mirror whose split has exactly the written tracks pending, then none after the resync.
 * The map answers the page reads are gzip (the browser asks for it; its fetch decodes them).
 * Screenshots go to the test's temp dir and test-artifacts/.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, parseControlEndpoint } from '../../src/api/control-client.js';
import { createVolume } from '../../src/api/volume-api.js';
import { TRACK_LABELS } from '../../src/session/session-view.js';
import type { SessionInfo } from '../../src/control-api/control-api-types.js';
import type { CloneStatus } from '../../src/techniques/clone/clone-options.js';
import type { MirrorSessionStatus } from '../../src/techniques/mirror/mirror-types.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from '../server/helpers/serve-process.js';
import { pollSession as pollSessionOn, rewriteTracksOverNbd } from '../server/helpers/session-polling.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACT_DIR = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** 1,050 tracks: the map's JSON is past MIN_GZIP_BYTES, so the page reads gzip answers. */
const CYLINDERS = 70;
const TRACKS = CYLINDERS * 15;

describe.skipIf(!existsSync(CHROMIUM))('live page of clone and mirror sessions in headless Chromium', () => {
  let dir: TempDir;
  let server: ServeProcess;
  let browser: Browser | undefined;
  let client: ControlClient;
  let endpoint: string;
  let token: string;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-live-sessions-');
    const source = makeFilledVolume(dir.path, 'src.ckd', { cylinders: CYLINDERS, seed: 21 });
    createVolume(join(dir.path, 'dst.ckd'), { type: '3390', cylinders: CYLINDERS, volser: 'DST001' }).close();
    const primary = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: CYLINDERS, seed: 22 });
    server = await startServe([source, join(dir.path, 'dst.ckd'), primary, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', '127.0.0.1:0']);
    const control = server.info.control;
    if (control.kind !== 'tcp') throw new Error('the server listens on TCP');
    endpoint = `${control.host}:${control.port}`;
    token = control.token;
    client = new ControlClient(parseControlEndpoint(endpoint, token));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    killAllServers();
    dir.cleanup();
  }, 60_000);

  const pollSession = (id: string, done: (s: SessionInfo) => boolean): Promise<SessionInfo> => pollSessionOn(client, id, done);
  const writeTracksOverNbd = (exportName: string, tracks: readonly number[]): Promise<void> => rewriteTracksOverNbd(server, exportName, TRACKS, tracks);

  /** Content-Encoding of every map answer the pages received. */
  const mapEncodings: string[] = [];

  async function openPage(id: string, query = ''): Promise<Page> {
    const page = await (browser as Browser).newPage({ viewport: { width: 1200, height: 900 } });
    page.on('response', (r) => {
      if (/\/sessions\/[^/]+\/map/.test(r.url())) mapEncodings.push(r.headers()['content-encoding'] ?? 'identity');
    });
    await page.goto(`http://${endpoint}/?session=${id}${query}#token=${token}`);
    await page.waitForFunction(`document.getElementById('followed').textContent === ${JSON.stringify(id)}`);
    return page;
  }

  async function waitText(page: Page, id: string, value: string | number): Promise<void> {
    await page.waitForFunction(`(document.getElementById(${JSON.stringify(id)}) || {}).textContent === ${JSON.stringify(String(value))}`, undefined, {
      timeout: 30_000,
    });
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    const shot = join(dir.path, name);
    await page.screenshot({ path: shot, fullPage: true });
    mkdirSync(ARTIFACT_DIR, { recursive: true });
    copyFileSync(shot, join(ARTIFACT_DIR, name));
  }

  it('draws a clone: re-copied tracks after writes during the precopy, with the clone counters', async () => {
    const started = await client.startSession({ type: 'clone', volume: 'src', target: 'dst', precopy: true });
    await pollSession(started.id, (s) => (s.progress as unknown as CloneStatus).tracksLeft === 0);
    const page = await openPage(started.id);
    await page.waitForFunction(`document.getElementById('map').dataset.kind === 'clone'`, undefined, { timeout: 30_000 });
    await waitText(page, 'n-pending', 0);
    expect(await page.textContent('#t-copiedInOrder')).toBe(TRACK_LABELS.clone.copiedInOrder);
    expect(await page.isVisible('#l-recopied')).toBe(true);

    const written = [3, 4, 50, 120, 179];
    await writeTracksOverNbd('src', written);
    await pollSession(started.id, (s) => {
      const p = s.progress as unknown as CloneStatus;
      return p.recopies === written.length && p.tracksLeft === 0;
    });
    await waitText(page, 'n-recopied', written.length);
    await waitText(page, 'n-pending', 0);
    const status = (await client.getSession(started.id)).progress as unknown as CloneStatus;
    await waitText(page, 'c-recopies', status.recopies);
    for (const field of ['tracksTotal', 'tracksLeft', 'indirect', 'precopied', 'copiedInBackground', 'copiedOnDemand', 'phase'] as const) {
      expect(await page.textContent(`#c-${field}`), field).toBe(String(status[field]));
    }
    expect(Number(await page.textContent('#n-copiedInOrder')) + written.length).toBe(status.precopied);
    const codes = (await page.getAttribute('#map', 'data-codes')) ?? '';
    expect(codes).toHaveLength(TRACKS);
    for (const t of written) expect(codes[t]).toBe('R');
    expect(await page.textContent('#n-hostWritten')).toBe(String(written.length));
    await screenshot(page, 'live-page-clone.png');
    await page.close();
    await client.cancel(started.id);
    await client.waitForSession(started.id);
  }, 120_000);

  it('draws a mirror: the split has the written tracks pending, the resync resends them', async () => {
    const secondary = join(dir.path, 'sec.ckd');
    createVolume(secondary, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' }).close();
    const started = await client.startSession({ type: 'mirror', volume: 'prim', secondaries: [secondary] });
    const inSync = (s: SessionInfo): boolean => (s.progress as unknown as MirrorSessionStatus).mirrors[0]?.inSync === true;
    await pollSession(started.id, inSync);
    const page = await openPage(started.id, '&mirror=M2');
    // The counters come with the session's events, the legend with its first map: wait for both.
    await page.waitForFunction(`document.getElementById('map').dataset.kind === 'mirror'`, undefined, { timeout: 30_000 });
    await waitText(page, 'c-linkState', 'ONGOING');
    expect(await page.textContent('#c-mirror')).toBe('M2');
    expect(await page.textContent('#t-pending')).toBe(TRACK_LABELS.mirror.pending);
    expect(await page.isVisible('#l-recopied')).toBe(false);

    await client.splitMirror(started.id, 'M2');
    const changed = [0, 16, 17, 90, 179];
    await writeTracksOverNbd('prim', changed);
    // No event comes while a split mirror is written: the page's own map poll shows the writes.
    await waitText(page, 'n-pending', changed.length);
    await waitText(page, 'c-linkState', 'BACKUP');
    await waitText(page, 'c-invalidTracks', changed.length);
    await screenshot(page, 'live-page-mirror-split.png');

    await client.rejoinMirror(started.id, 'M2');
    const after = await pollSession(started.id, inSync);
    const resync = (after.progress as unknown as MirrorSessionStatus).mirrors[0]?.resync;
    expect(resync?.copied).toBe(changed.length);
    await waitText(page, 'n-pending', 0);
    await waitText(page, 'n-copiedInOrder', changed.length);
    await waitText(page, 'c-resyncCopied', changed.length);
    await waitText(page, 'c-linkState', 'ONGOING');
    expect(await page.textContent('#n-notInSession')).toBe(String(TRACKS - changed.length));
    await page.close();
    await client.removeMirror(started.id);
    expect(mapEncodings.length).toBeGreaterThan(0);
    expect(new Set(mapEncodings)).toEqual(new Set(['gzip']));
  }, 120_000);
});
