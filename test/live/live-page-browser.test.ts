/**
 * Acceptance test of the live page (issue 12): `snaptape serve` on a filled volume with a TCP
 * control address, the page opened in headless Chromium (playwright-core, Debian chromium), a
 * throttled backup started through the control API while a synthetic host load writes the volume
 * over NBD (each write puts a track's own bytes back: a real write through the chain that keeps
 * the volume valid). Checks that the page's track map changes while the backup runs, that its
 * counters equal `snaptape session show --json` at the end, and saves a screenshot in the test's
 * temp dir and as test-artifacts/live-page.png.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, parseControlEndpoint, CONTROL_TOKEN_ENV } from '../../src/api/control-client.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import type { BackupProgress } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { Prng } from '../harness/backup-fixtures.js';
import { killAllServers, makeFilledVolume, nbdPort, startServe, type ServeProcess } from '../server/helpers/serve-process.js';

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
const CYLINDERS = 30;
const SEED = 12;
/** Slow enough that the page sees several map samples (about 4 s for this volume). */
const THROTTLE_MBPS = 4;
/** Host writes per second of the synthetic load. */
const LOAD_WRITES_PER_SECOND = 100;

const COUNTER_FIELDS = ['copiedInOrder', 'copiedOutOfOrder', 'slotsTotal', 'bytesCopied', 'bytesTotal'] as const;

describe.skipIf(!existsSync(CHROMIUM))('live page in headless Chromium', () => {
  let dir: TempDir;
  let server: ServeProcess;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-live-page-');
    const image = makeFilledVolume(dir.path, 'prod01.ckd', { cylinders: CYLINDERS, seed: SEED });
    server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', '127.0.0.1:0']);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    killAllServers();
    dir.cleanup();
  }, 60_000);

  it('draws the map as it changes, ends with the session status counters, and is screenshotted', async () => {
    const control = server.info.control;
    if (control.kind !== 'tcp') throw new Error('the server listens on TCP');
    const endpoint = `${control.host}:${control.port}`;
    const client = new ControlClient(parseControlEndpoint(endpoint, control.token));
    const page = await (browser as Browser).newPage({ viewport: { width: 1200, height: 900 } });
    const failedRequests: string[] = [];
    page.on('requestfailed', (r) => failedRequests.push(r.url()));
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://${endpoint}/`)) failedRequests.push(`external: ${r.url()}`);
    });

    // The page itself needs no token; without one its API calls would be refused (401).
    await page.goto(`http://${endpoint}/#token=${control.token}`);
    await page.waitForSelector('#volumes tr');
    expect(await page.textContent('#volumes')).toContain('prod01');

    // The synthetic host load: read a random track and write its bytes back, over NBD.
    const nbd = await NbdClient.connect({ port: nbdPort(server.info), exportName: 'prod01' });
    const exportInfo = server.info.nbd.exports.find((e) => e.name === 'prod01');
    if (!exportInfo) throw new Error('prod01 is exported');
    const slotBytes = exportInfo.sizeBytes / (CYLINDERS * 15);
    const prng = new Prng(SEED);
    let loadRunning = true;
    let hostWrites = 0;
    const load = (async () => {
      while (loadRunning) {
        const offset = prng.below(CYLINDERS * 15) * slotBytes;
        await nbd.write(offset, await nbd.read(offset, slotBytes));
        hostWrites++;
        await new Promise((r) => setTimeout(r, 1000 / LOAD_WRITES_PER_SECOND));
      }
    })();

    const started = await client.startSession({ type: 'backup', volume: 'prod01', tape: join(dir.path, 'live.aws'), throttleMbps: THROTTLE_MBPS, workers: 2 });
    // Page-side expressions are strings: this project's TypeScript has no DOM library.
    await page.waitForFunction(`document.getElementById('followed').textContent === ${JSON.stringify(started.id)}`);

    // Sample the drawn map while the backup runs.
    const seen = new Set<string>();
    const pendingCounts: number[] = [];
    for (let i = 0; i < 100; i++) {
      const state = (await client.getSession(started.id)).state;
      const drawn = { codes: (await page.getAttribute('#map', 'data-codes')) ?? '', pending: Number(await page.textContent('#n-pending')) };
      if (state !== 'running') break;
      if (drawn.codes) {
        seen.add(drawn.codes);
        pendingCounts.push(drawn.pending);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    loadRunning = false;
    await load;
    await nbd.disconnect();
    expect(seen.size, 'the map was redrawn with new states during the backup').toBeGreaterThanOrEqual(3);
    expect(pendingCounts[0]).toBeGreaterThan(pendingCounts[pendingCounts.length - 1] ?? Infinity);
    expect(hostWrites).toBeGreaterThan(0);

    const finished = await client.waitForSession(started.id);
    expect(finished.state).toBe('completed');
    await page.waitForFunction(`document.getElementById('c-state').textContent === 'completed'`);
    // The final map is fetched after the end event: wait until it shows nothing pending.
    await page.waitForFunction(`document.getElementById('n-pending').textContent === '0'`);

    // `snaptape session show --json`: the session's status as an operator reads it.
    process.env[CONTROL_TOKEN_ENV] = control.token;
    const status = runSnaptape(['session', 'show', started.id, '--server', endpoint, '--json']);
    delete process.env[CONTROL_TOKEN_ENV];
    expect(status.status, status.stderr).toBe(0);
    const progress = (JSON.parse(status.stdout) as { progress: BackupProgress }).progress;
    for (const field of COUNTER_FIELDS) {
      expect(await page.textContent(`#c-${field}`), field).toBe(String(progress[field]));
    }
    expect(await page.textContent('#n-copiedInOrder')).toBe(String(progress.copiedInOrder));
    expect(await page.textContent('#n-copiedOutOfOrder')).toBe(String(progress.copiedOutOfOrder));
    expect(progress.copiedOutOfOrder, 'the host load forced copies out of order').toBeGreaterThan(0);
    expect(Number(await page.textContent('#c-hostWrites'))).toBeGreaterThan(0);
    expect(failedRequests, 'every request stayed on the control address').toEqual([]);

    const shot = join(dir.path, 'live-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    mkdirSync(ARTIFACT_DIR, { recursive: true });
    copyFileSync(shot, join(ARTIFACT_DIR, 'live-page.png'));
    expect(existsSync(join(ARTIFACT_DIR, 'live-page.png'))).toBe(true);
  }, 120_000);
});
