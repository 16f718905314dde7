/**
 * The S3 vault against a real S3 server (Ceph radosgw on loopback, test/harness/radosgw.ts):
 * a backup tape is vaulted with its manifest and the local file removed only after a read-back;
 * one data set is restored straight from the vault by ranged GETs, fetching far fewer bytes than
 * the cartridge holds; a recall gives back the same bytes; a WORM cartridge's object cannot be
 * deleted; and a wrong endpoint or wrong credentials fail with one clear line, losing nothing.
 */
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recallTape, restoreFromVault, vaultTape } from '../../src/api/vault-api.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { LockedError, VaultError } from '../../src/errors/snaptape-error.js';
import { createVaultClient, parseS3Url, readVaultManifest, recallCartridge } from '../../src/vault/index.js';
import { sha256File } from '../harness/dasd.js';
import { startRadosgw, type Radosgw } from '../harness/radosgw.js';
import { runSnaptape, runSnaptapeJson, runSnaptapeOk, SNAPTAPE_BIN } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let rgw: Radosgw;
let s3: S3Client;
let source: string;
let tape: string;
const payloads: Record<string, Buffer> = {};
const savedEnv = { ...process.env };

function payload(seed: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** A fresh copy of the backup tape, as a cartridge of its own. */
function cartridge(name: string): string {
  const path = join(dir.path, `${name}.aws`);
  copyFileSync(tape, path);
  return path;
}

beforeAll(async () => {
  dir = makeTempDir();
  rgw = await startRadosgw(join(dir.path, 'ceph'));
  Object.assign(process.env, rgw.env);
  s3 = new S3Client({
    endpoint: rgw.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'vault', ObjectLockEnabledForBucket: true }));
  source = join(dir.path, 'source.ckd');
  runSnaptapeOk(['init', source, '--type', '3390', '--cyls', '20', '--volser', 'VLT001']);
  for (const [name, tracks, bytes] of [
    ['DS.SMALL', 4, 60_000],
    ['DS.LARGE', 40, 1_500_000],
  ] as const) {
    runSnaptapeOk(['alloc', source, name, '--tracks', String(tracks), '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
    payloads[name] = payload(bytes + tracks, bytes);
    const file = join(dir.path, `${name}.bin`);
    writeFileSync(file, payloads[name]);
    runSnaptapeOk(['put', source, name, file]);
  }
  tape = join(dir.path, 'backup.aws');
  runSnaptapeOk(['backup', source, '--to', tape, '--datasets', 'DS.**']);
}, 240_000);

afterAll(() => {
  process.env = savedEnv;
  rgw?.stop();
  dir?.cleanup();
});

function getData(image: string, name: string): Buffer {
  const out = join(dir.path, `get-${name}-${Math.random().toString(36).slice(2)}.bin`);
  runSnaptapeOk(['get', image, name, out]);
  return readFileSync(out).subarray(0, payloads[name]!.length);
}

describe('vault to a real S3 server', () => {
  it('vaults with a manifest, removes the local file only after a read-back, and restores one data set by ranged reads', async () => {
    const path = cartridge('VA0001');
    const sha = sha256File(path);
    const result = await vaultTape(path, 'VA0001', 's3://vault/lib1', { removeLocal: true });
    expect(result.verified).toBe('read-back');
    expect(result.sha256).toBe(sha);
    expect(existsSync(path)).toBe(false);
    // Both data sets, each with its blocks and the SHA-256 of its data.
    expect(result.manifest.dataSets).toHaveLength(2);
    expect(result.manifest.dataSets.map((d) => d.blockCount).sort((a, b) => a - b)).toEqual([4, 40]);
    expect(result.manifest.labels[0]).toMatch(/^VOL1/);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'vault', Key: 'lib1/VA0001.aws' }));
    expect(head.ContentLength).toBe(result.sizeBytes);

    const target = join(dir.path, 'from-vault.ckd');
    const restored = await restoreFromVault('s3://vault/lib1', 'VA0001', { to: target, newVolume: true, dataset: 'DS.SMALL' });
    expect(getData(target, 'DS.SMALL').equals(payloads['DS.SMALL']!)).toBe(true);
    // The small data set and the labels, not the large one: a tenth of the cartridge at most.
    console.log(`one-data-set restore from the vault fetched ${restored.bytesFetched} of ${restored.cartridgeBytes} bytes in ${restored.requests} requests`);
    expect(restored.bytesFetched).toBeLessThan(restored.cartridgeBytes / 10);
    expect(restored.bytesFetched).toBeGreaterThan(60_000);

    const recalled = join(dir.path, 'recalled.aws');
    const recall = await recallTape('s3://vault/lib1', 'VA0001', recalled);
    expect(recall.sha256).toBe(sha);
    expect(sha256File(recalled)).toBe(sha);
    const full = join(dir.path, 'full.ckd');
    runSnaptapeOk(['restore', recalled, '--to', full, '--new-volume']);
    for (const name of Object.keys(payloads)) expect(getData(full, name).equals(payloads[name]!)).toBe(true);
  }, 180_000);

  it('locks a WORM cartridge in COMPLIANCE mode: its object cannot be deleted', async () => {
    const path = cartridge('VW0001');
    const result = await vaultTape(path, 'VW0001', 's3://vault/worm', { retainUntil: new Date(Date.now() + 86_400_000) });
    expect(result.objectLock).toBe('COMPLIANCE');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'vault', Key: 'worm/VW0001.aws' }));
    expect(head.ObjectLockMode).toBe('COMPLIANCE');
    await expect(s3.send(new DeleteObjectCommand({ Bucket: 'vault', Key: 'worm/VW0001.aws', VersionId: head.VersionId }))).rejects.toThrow();
    expect(existsSync(path)).toBe(true);
  }, 120_000);

  it('a wrong endpoint or wrong credentials fail with one clear line, and the cartridge stays', async () => {
    const path = cartridge('VF0001');
    const sha = sha256File(path);
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    const unreachable = await vaultTape(path, 'VF0001', 's3://vault/f', { removeLocal: true }).catch((e: unknown) => e);
    process.env.AWS_ENDPOINT_URL = rgw.endpoint;
    expect(unreachable).toBeInstanceOf(VaultError);
    expect((unreachable as Error).message).toMatch(/^Cannot reach the vault s3:\/\/vault\/f: .*ECONNREFUSED/);
    expect((unreachable as Error).message).not.toContain('\n');
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong';
    const refused = await vaultTape(path, 'VF0001', 's3://vault/f', { removeLocal: true }).catch((e: unknown) => e);
    process.env.AWS_SECRET_ACCESS_KEY = rgw.secretAccessKey;
    expect(refused).toBeInstanceOf(VaultError);
    expect((refused as Error).message).toMatch(/^Cannot reach the vault s3:\/\/vault\/f: SignatureDoesNotMatch|AccessDenied|HTTP 403/);
    expect(sha256File(path)).toBe(sha);
  }, 120_000);

  it('a second recall to the same file while one runs is refused, and the first brings back the cartridge', async () => {
    const path = cartridge('VR0001');
    const sha = sha256File(path);
    await vaultTape(path, 'VR0001', 's3://vault/race', { removeLocal: true });
    const client = await createVaultClient({ maxAttempts: 1 });
    const location = parseS3Url('s3://vault/race');
    const manifest = await readVaultManifest(client, location, 'VR0001');
    const target = join(dir.path, 'race.aws');
    rgw.pause();
    let first: Promise<unknown>;
    let second: Promise<unknown>;
    try {
      first = recallCartridge(client, location, manifest, target);
      await new Promise((r) => setTimeout(r, 300));
      second = recallCartridge(client, location, manifest, target).catch((e: unknown) => e);
      // The second is refused at once: it must not wait for the store, nor touch the first's download.
      const early = await Promise.race([second, new Promise((r) => setTimeout(() => r('still running'), 2000))]);
      expect(early).toBeInstanceOf(LockedError);
      expect((early as Error).message).toContain(target);
    } finally {
      rgw.resume();
    }
    await first;
    await second;
    expect(sha256File(target)).toBe(sha);
    expect(existsSync(`${target}.recall`)).toBe(false);
    client.destroy();
  }, 120_000);

  it('a malformed manifest in the store is refused with a clear error, nothing written', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: 'bad/VB0001.manifest.json',
        Body: JSON.stringify({ format: 'snaptape-vault-manifest', version: 1, volser: 'VB0001', sizeBytes: 10, sha256: 'x' }),
      }),
    );
    const target = join(dir.path, 'never.ckd');
    await expect(restoreFromVault('s3://vault/bad', 'VB0001', { to: target, newVolume: true })).rejects.toThrow(
      /^Cannot use the vault manifest s3:\/\/vault\/bad\/VB0001.manifest.json: its SHA-256 is malformed$/,
    );
    expect(existsSync(target)).toBe(false);
  }, 60_000);
});

describe('a library vaulted to a real S3 server (the drill of issue 24)', () => {
  const lib = (): string => join(dir.path, 'lib');
  const listing = (): { cartridges: { volser: string; location: string; vaultUrl: string | null; setId: string | null }[] } =>
    runSnaptapeJson(['library', 'ls', lib()]);

  it('a backup spanning cartridges is vaulted, one data set restored in place by ranged reads, the volume after a recall', async () => {
    process.env.SNAPTAPE_CATALOG = join(dir.path, 'lib.db');
    runSnaptapeOk(['library', 'init', lib(), '--media', '3490E', '--cartridges', '10', '--capacity-bytes', '600000']);
    const backup = runSnaptapeJson<{ cartridges: { volser: string }[] }>(['backup', source, '--to-library', lib(), '--datasets', 'DS.**']);
    const set = backup.cartridges.map((c) => c.volser);
    expect(set.length).toBeGreaterThanOrEqual(2);
    // Nothing writes the source: it is the point-in-time copy.
    const shas = Object.fromEntries(set.map((v) => [v, sha256File(join(lib(), `${v}.aws`))]));
    let cartridgeBytes = 0;
    for (const v of set) {
      const r = runSnaptapeJson<{ verified: string; removedLocal: boolean; sizeBytes: number }>([
        'library',
        'vault',
        lib(),
        v,
        '--to',
        's3://vault/drill',
        '--remove-local',
      ]);
      expect(r).toMatchObject({ verified: 'read-back', removedLocal: true });
      cartridgeBytes += r.sizeBytes;
      expect(existsSync(join(lib(), `${v}.aws`))).toBe(false);
    }
    expect(
      listing()
        .cartridges.filter((c) => set.includes(c.volser))
        .every((c) => c.location === 'vaulted' && c.vaultUrl === 's3://vault/drill'),
    ).toBe(true);

    // The small data set, straight from the vault: its blocks and the labels, nothing else.
    const small = join(dir.path, 'drill-small.ckd');
    const inPlace = runSnaptapeJson<{ vault: { bytesFetched: number; cartridgeBytes: number } }>([
      'restore',
      set[0]!,
      '--library',
      lib(),
      '--dataset',
      'DS.SMALL',
      '--to',
      small,
      '--new-volume',
    ]);
    console.log(`drill: DS.SMALL restored from ${set.length} vaulted cartridges (${cartridgeBytes} bytes) fetching ${inPlace.vault.bytesFetched} bytes`);
    expect(inPlace.vault.cartridgeBytes).toBe(cartridgeBytes);
    expect(inPlace.vault.bytesFetched).toBeLessThan(cartridgeBytes / 5);
    expect(getData(small, 'DS.SMALL').equals(payloads['DS.SMALL']!)).toBe(true);
    // The large one spans cartridges: each section comes from its own cartridge.
    const large = join(dir.path, 'drill-large.ckd');
    runSnaptapeOk(['restore', set[0]!, '--library', lib(), '--dataset', 'DS.LARGE', '--to', large, '--new-volume']);
    expect(getData(large, 'DS.LARGE').equals(payloads['DS.LARGE']!)).toBe(true);

    // verify reads the vaulted set in place: every object hashed as it streams, against the library's record.
    const verified = runSnaptapeJson<{ ok: boolean; cartridges: { volser: string; read: string; ok: boolean }[] }>(['verify', set[0]!, '--library', lib()]);
    expect(verified.ok).toBe(true);
    expect(verified.cartridges.map((c) => [c.volser, c.read, c.ok])).toEqual(set.map((v) => [v, `s3://vault/drill/${v}.aws`, true]));
    // A whole restore needs the cartridges: it is refused with the way out, then works after a recall.
    const whole = runSnaptape(['restore', set[0]!, '--library', lib(), '--to', join(dir.path, 'never.ckd'), '--new-volume']);
    expect(whole.status).toBe(EXIT_STATUS_BY_CODE.LIBRARY);
    expect(whole.stderr.trim()).toMatch(/is vaulted|are vaulted.*library recall/);
    for (const v of set) {
      runSnaptapeOk(['library', 'recall', lib(), v]);
      expect(sha256File(join(lib(), `${v}.aws`))).toBe(shas[v]);
    }
    const full = join(dir.path, 'drill-full.ckd');
    runSnaptapeOk(['restore', set[0]!, '--library', lib(), '--to', full, '--new-volume']);
    // The backup holds the data sets (not the whole volume): each comes back as it was at the backup.
    for (const name of Object.keys(payloads)) expect(getData(full, name).equals(payloads[name]!)).toBe(true);

    // A whole-volume backup spanning cartridges, vaulted and recalled, restores to a volume equal,
    // unit for unit, to the source (nothing wrote it since: it is the point-in-time copy).
    const volumeSet = runSnaptapeJson<{ cartridges: { volser: string }[] }>(['backup', source, '--to-library', lib()]).cartridges.map((c) => c.volser);
    expect(volumeSet.length).toBeGreaterThanOrEqual(2);
    for (const v of volumeSet) runSnaptapeOk(['library', 'vault', lib(), v, '--to', 's3://vault/drill', '--remove-local']);
    for (const v of volumeSet) runSnaptapeOk(['library', 'recall', lib(), v]);
    const wholeVolume = join(dir.path, 'drill-volume.ckd');
    runSnaptapeOk(['restore', volumeSet[0]!, '--library', lib(), '--to', wholeVolume, '--new-volume']);
    expect(runSnaptape(['compare', source, wholeVolume]).stdout).toMatch(/ 0 mismatched/);
  }, 300_000);

  it('a vault killed halfway leaves the cartridge local, unchanged and not vaulted', async () => {
    process.env.SNAPTAPE_CATALOG = join(dir.path, 'kill.db');
    const killLib = join(dir.path, 'kill-lib');
    runSnaptapeOk(['library', 'init', killLib, '--media', '3490E', '--cartridges', '2']);
    const backup = runSnaptapeJson<{ cartridges: { volser: string }[] }>(['backup', source, '--to-library', killLib]);
    const volser = backup.cartridges[0]!.volser;
    const path = join(killLib, `${volser}.aws`);
    const sha = sha256File(path);
    rgw.pause();
    try {
      const child = spawn(process.execPath, [SNAPTAPE_BIN, 'library', 'vault', killLib, volser, '--to', 's3://vault/kill', '--remove-local'], {
        stdio: 'ignore',
      });
      await new Promise((r) => setTimeout(r, 3000));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    } finally {
      rgw.resume();
    }
    expect(sha256File(path)).toBe(sha);
    const row = runSnaptapeJson<{ cartridges: { volser: string; location: string; vaultUrl: string | null }[] }>(['library', 'ls', killLib]).cartridges.find(
      (c) => c.volser === volser,
    );
    expect(row).toMatchObject({ location: 'slot', vaultUrl: null });
    // No manifest: the store holds no vaulted cartridge for it either.
    await expect(s3.send(new HeadObjectCommand({ Bucket: 'vault', Key: `kill/${volser}.manifest.json` }))).rejects.toThrow();
    // Run again, the vault replaces what the killed one left (an object with no manifest).
    runSnaptapeOk(['library', 'vault', killLib, volser, '--to', 's3://vault/kill', '--remove-local']);
    runSnaptapeOk(['library', 'recall', killLib, volser]);
    expect(sha256File(path)).toBe(sha);
  }, 180_000);

  it('a refused recall leaves the cartridge vaulted, read in place; a killed one leaves it recalling, and a recall restarts it', async () => {
    process.env.SNAPTAPE_CATALOG = join(dir.path, 'refused.db');
    const refusedLib = join(dir.path, 'refused-lib');
    runSnaptapeOk(['library', 'init', refusedLib, '--media', '3490E', '--cartridges', '2']);
    const volser = runSnaptapeJson<{ cartridges: { volser: string }[] }>(['backup', source, '--to-library', refusedLib, '--datasets', 'DS.SMALL'])
      .cartridges[0]!.volser;
    const path = join(refusedLib, `${volser}.aws`);
    const sha = sha256File(path);
    runSnaptapeOk(['library', 'vault', refusedLib, volser, '--to', 's3://vault/refused', '--remove-local']);
    const where = (): string | undefined =>
      runSnaptapeJson<{ cartridges: { volser: string; location: string }[] }>(['library', 'ls', refusedLib]).cartridges.find((c) => c.volser === volser)
        ?.location;
    const readInPlace = (name: string): ReturnType<typeof runSnaptape> =>
      runSnaptape(['restore', volser, '--library', refusedLib, '--dataset', 'DS.SMALL', '--to', join(dir.path, `${name}.ckd`), '--new-volume']);

    // A failed fetch (the store unreachable): refused, and the cartridge is vaulted as it was.
    const unreachable = runSnaptape(['library', 'recall', refusedLib, volser], { env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' } });
    expect(unreachable.status, unreachable.stderr).toBe(EXIT_STATUS_BY_CODE.VAULT);
    expect(where(), 'a refused recall leaves the cartridge vaulted').toBe('vaulted');
    expect(existsSync(path)).toBe(false);
    const inPlace = readInPlace('refused-in-place');
    expect(inPlace.status, `an in-place restore after a refused recall: ${inPlace.stderr}`).toBe(0);

    // A recall killed halfway (a crash) leaves it recalling; the next recall starts it again.
    rgw.pause();
    try {
      const child = spawn(process.execPath, [SNAPTAPE_BIN, 'library', 'recall', refusedLib, volser], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 3000));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    } finally {
      rgw.resume();
    }
    expect(where()).toBe('recalling');
    expect(existsSync(path)).toBe(false);
    runSnaptapeOk(['library', 'recall', refusedLib, volser]);
    expect(where()).toBe('slot');
    expect(sha256File(path)).toBe(sha);

    // A manifest that is not this cartridge's (another object under its name): refused, vaulted.
    runSnaptapeOk(['library', 'vault', refusedLib, volser, '--to', 's3://vault/refused', '--remove-local']);
    await vaultTape(cartridge('refused-other'), volser, 's3://vault/refused', { replace: true });
    const mismatch = runSnaptape(['library', 'recall', refusedLib, volser]);
    expect(mismatch.status, mismatch.stderr).toBe(EXIT_STATUS_BY_CODE.VAULT);
    expect(mismatch.stderr).toContain(sha);
    expect(where(), 'a refused recall leaves the cartridge vaulted').toBe('vaulted');
    expect(existsSync(path)).toBe(false);
    // Read in place, it is refused for what it is (the vault's copy is another), not for a recall.
    const refusedInPlace = readInPlace('mismatch-in-place');
    expect(refusedInPlace.status, refusedInPlace.stderr).toBe(EXIT_STATUS_BY_CODE.VAULT);
    expect(refusedInPlace.stderr).toContain(sha);
  }, 180_000);

  it("a second library's cartridge of the same volser does not replace the first's in a shared vault", async () => {
    const libA = join(dir.path, 'shared-a');
    const libB = join(dir.path, 'shared-b');
    process.env.SNAPTAPE_CATALOG = join(dir.path, 'shared-a.db');
    runSnaptapeOk(['library', 'init', libA, '--cartridges', '2']);
    const a = runSnaptapeJson<{ cartridges: { volser: string }[] }>(['backup', source, '--to-library', libA, '--datasets', 'DS.SMALL']).cartridges[0]!.volser;
    const shaA = sha256File(join(libA, `${a}.aws`));
    runSnaptapeOk(['library', 'vault', libA, a, '--to', 's3://vault/shared', '--remove-local']);
    process.env.SNAPTAPE_CATALOG = join(dir.path, 'shared-b.db');
    runSnaptapeOk(['library', 'init', libB, '--cartridges', '2']);
    const b = runSnaptapeJson<{ cartridges: { volser: string }[] }>(['backup', source, '--to-library', libB, '--datasets', 'DS.LARGE']).cartridges[0]!.volser;
    expect(b).toBe(a);
    const shaB = sha256File(join(libB, `${b}.aws`));
    const refused = runSnaptape(['library', 'vault', libB, b, '--to', 's3://vault/shared', '--remove-local']);
    expect(refused.status, refused.stderr).toBe(EXIT_STATUS_BY_CODE.VAULT);
    expect(refused.stderr).toContain(`s3://vault/shared/${a}.aws`);
    expect(refused.stderr).toContain(shaA);
    expect(sha256File(join(libB, `${b}.aws`)), "library B's cartridge stays").toBe(shaB);
    process.env.SNAPTAPE_CATALOG = join(dir.path, 'shared-a.db');
    runSnaptapeOk(['library', 'recall', libA, a]);
    expect(sha256File(join(libA, `${a}.aws`)), "library A's cartridge comes back as it went").toBe(shaA);

    // Replaced in the store all the same (by another tool, or before the vault refused): the recall
    // checks the manifest against the SHA-256 the library recorded, and brings nothing back.
    runSnaptapeOk(['library', 'vault', libA, a, '--to', 's3://vault/shared', '--remove-local']);
    await vaultTape(join(libB, `${b}.aws`), b, 's3://vault/shared', { replace: true });
    const inPlace = runSnaptape(['restore', a, '--library', libA, '--dataset', 'DS.SMALL', '--to', join(dir.path, 'shared.ckd'), '--new-volume']);
    expect(inPlace.status, inPlace.stderr).toBe(EXIT_STATUS_BY_CODE.VAULT);
    expect(inPlace.stderr).toContain(shaA);
    expect(existsSync(join(dir.path, 'shared.ckd'))).toBe(false);
    const recall = runSnaptape(['library', 'recall', libA, a]);
    expect(recall.status, recall.stderr).toBe(EXIT_STATUS_BY_CODE.VAULT);
    expect(recall.stderr).toContain(shaA);
    expect(recall.stderr).toContain(shaB);
    expect(existsSync(join(libA, `${a}.aws`))).toBe(false);
  }, 180_000);
});
