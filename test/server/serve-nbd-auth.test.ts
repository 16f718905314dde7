/**
 * Who may reach a served volume over NBD. The server runs as root here; another local account
 * (`nobody`, through runuser) tries to write the volume with qemu-io and nbdinfo:
 * - the default transport is a unix socket beside the image, mode 0600: nobody is refused;
 * - `--nbd-group` opens it to one group (mode 0660);
 * - TCP requires TLS with a pre-shared key (`--tls-psk`, psktool format): the right key writes
 *   and reads back; a wrong key and a plain (non-TLS) client are refused;
 * - writable volumes over plain TCP are refused unless `--insecure-tcp` is given.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from './helpers/serve-process.js';

const canSwitchUser = process.getuid?.() === 0;
const SKIP_REASON = 'needs root to run a client as the user nobody (runuser -u nobody)';
/** nobody's uid and its group nogroup's gid on Debian. */
const NOBODY_UID = 65534;
const NOGROUP_GID = 65534;
const KEY = '2c129cff760bf04ca78a7218e6d20b959a6e6ead8892072e1e952dc563a89241';
const WRONG_KEY = 'ff129cff760bf04ca78a7218e6d20b959a6e6ead8892072e1e952dc563a89241';

function asNobody(tool: string, args: readonly string[]): ReturnType<typeof runToolAsync> {
  return runToolAsync('runuser', ['-u', 'nobody', '--', tool, ...args]);
}

/** A qemu-io run against an NBD export over TLS-PSK, with the key file in `keyDir`/keys.psk. */
function qemuIoTls(port: number, keyDir: string, commands: readonly string[]): ReturnType<typeof runToolAsync> {
  return asNobody('qemu-io', [
    '--object',
    `tls-creds-psk,id=tls0,endpoint=client,dir=${keyDir},username=alice`,
    '--image-opts',
    `driver=nbd,host=127.0.0.1,port=${port},export=vol1,tls-creds=tls0`,
    ...commands.flatMap((c) => ['-c', c]),
  ]);
}

describe.skipIf(!canSwitchUser)(`snaptape serve: NBD only for the owner${canSwitchUser ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  let dir: TempDir;
  let image: string;

  beforeAll(() => {
    dir = makeTempDir('snaptape-nbd-auth-');
    // Everyone may enter the directory and read the image: only the NBD transport may keep nobody out.
    chmodSync(dir.path, 0o755);
    image = makeFilledVolume(dir.path, 'vol1.ckd');
    chmodSync(image, 0o644);
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  describe('the default listen address', () => {
    let server: ServeProcess;
    beforeAll(async () => {
      server = await startServe([image, '--control', join(dir.path, 'ctl.sock')]);
    });
    afterAll(async () => {
      await server.stop();
    });

    it('is a unix socket beside the image, mode 0600', () => {
      expect(server.info.nbd).toMatchObject({ kind: 'unix', path: `${image}.nbd.sock`, group: null });
      const stat = lstatSync(`${image}.nbd.sock`);
      expect(stat.isSocket()).toBe(true);
      expect(stat.mode & 0o777).toBe(0o600);
    });

    it('refuses another local user', async () => {
      const before = readFileSync(image);
      const result = await asNobody('qemu-io', ['-f', 'raw', `nbd+unix:///vol1?socket=${image}.nbd.sock`, '-c', 'write -P 0x5a 0 512']);
      expect(result.status, result.stdout).not.toBe(0);
      expect(result.stderr + result.stdout).toMatch(/Permission denied/);
      expect(readFileSync(image).equals(before)).toBe(true);
    });

    it('serves its owner', async () => {
      const result = await runToolAsync('nbdinfo', ['--size', `nbd+unix:///vol1?socket=${image}.nbd.sock`]);
      expect(result.status, result.stderr).toBe(0);
      expect(Number(result.stdout.trim())).toBe(server.info.nbd.exports[0]?.sizeBytes);
    });
  });

  it('--nbd-group lets that group in (mode 0660)', async () => {
    const socket = join(dir.path, 'group.sock');
    const server = await startServe([image, '--nbd', `unix:${socket}`, '--nbd-group', 'nogroup', '--control', join(dir.path, 'ctl.sock')]);
    try {
      const stat = lstatSync(socket);
      expect(stat.mode & 0o777).toBe(0o660);
      expect(stat.gid).toBe(NOGROUP_GID);
      const result = await asNobody('qemu-io', ['-f', 'raw', `nbd+unix:///vol1?socket=${socket}`, '-c', 'write -P 0x6b 512 512', '-c', 'read -P 0x6b 512 512']);
      expect(result.status, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).not.toMatch(/Pattern verification failed/);
    } finally {
      await server.stop();
    }
    expect(existsSync(socket)).toBe(false);
  });

  describe('TCP with TLS-PSK', () => {
    let server: ServeProcess;
    let port: number;
    let goodKeys: string;
    let wrongKeys: string;

    beforeAll(async () => {
      const serverKeys = join(dir.path, 'server.psk');
      writeFileSync(serverKeys, `alice:${KEY}\n`, { mode: 0o600 });
      // qemu's tls-creds-psk reads DIR/keys.psk; nobody must be able to read its own copy.
      goodKeys = join(dir.path, 'good');
      wrongKeys = join(dir.path, 'wrong');
      for (const [keyDir, key] of [
        [goodKeys, KEY],
        [wrongKeys, WRONG_KEY],
      ] as const) {
        mkdirSync(keyDir);
        writeFileSync(join(keyDir, 'keys.psk'), `alice:${key}\n`, { mode: 0o600 });
        chownSync(keyDir, NOBODY_UID, NOGROUP_GID);
        chownSync(join(keyDir, 'keys.psk'), NOBODY_UID, NOGROUP_GID);
      }
      server = await startServe([image, '--nbd', '127.0.0.1:0', '--tls-psk', serverKeys, '--control', join(dir.path, 'ctl.sock')]);
      if (server.info.nbd.kind !== 'tcp') throw new Error('the server listens on TCP');
      expect(server.info.nbd.tls).toBe(true);
      port = server.info.nbd.port;
    });
    afterAll(async () => {
      await server.stop();
    });

    it('the right key writes and reads back (qemu-io as nobody)', async () => {
      const result = await qemuIoTls(port, goodKeys, ['write -P 0x7c 4096 4096', 'read -P 0x7c 4096 4096']);
      expect(result.status, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).toMatch(/wrote 4096\/4096 bytes/);
      expect(result.stdout).not.toMatch(/Pattern verification failed/);
    });

    it('nbdinfo with the key file in the nbds:// URI sees the export', async () => {
      const result = await asNobody('nbdinfo', ['--size', `nbds://alice@127.0.0.1:${port}/vol1?tls-psk-file=${join(goodKeys, 'keys.psk')}`]);
      expect(result.status, result.stderr).toBe(0);
      expect(Number(result.stdout.trim())).toBe(server.info.nbd.exports[0]?.sizeBytes);
    });

    it('a wrong key is refused and writes nothing', async () => {
      const before = readFileSync(image);
      const result = await qemuIoTls(port, wrongKeys, ['write -P 0x11 0 512']);
      expect(result.status, result.stdout).not.toBe(0);
      expect(readFileSync(image).equals(before)).toBe(true);
    });

    it('a plain client is refused: TLS is required', async () => {
      const before = readFileSync(image);
      const result = await asNobody('qemu-io', ['-f', 'raw', `nbd://127.0.0.1:${port}/vol1`, '-c', 'write -P 0x22 0 512']);
      expect(result.status, result.stdout).not.toBe(0);
      expect(result.stderr + result.stdout).toMatch(/TLS/);
      expect(readFileSync(image).equals(before)).toBe(true);
    });
  });

  it('plain TCP with writable volumes needs --insecure-tcp, and then warns', async () => {
    const refused = runSnaptape(['serve', image, '--nbd', '127.0.0.1:0', '--control', join(dir.path, 'ctl.sock')]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/without TLS: give --tls-psk FILE, use --nbd unix:PATH, or --insecure-tcp/);
    const server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir.path, 'ctl.sock')]);
    try {
      expect(server.info.warnings.join('\n')).toMatch(/has no TLS \(--insecure-tcp\)/);
    } finally {
      await server.stop();
    }
  });

  it('refuses to listen over a file that is not a socket, and leaves it alone', () => {
    const path = join(dir.path, 'not-a-socket');
    writeFileSync(path, 'keep me');
    const result = runSnaptape(['serve', image, '--nbd', `unix:${path}`, '--control', join(dir.path, 'ctl.sock')]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/a file that is not a socket is there/);
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });

  it('removes a stale socket left by a killed server', async () => {
    const path = join(dir.path, 'stale.sock');
    const holder = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    holder.kill('SIGKILL');
    await new Promise<void>((resolve) => holder.once('exit', () => resolve()));
    expect(lstatSync(path).isSocket()).toBe(true);
    const server = await startServe([image, '--nbd', `unix:${path}`, '--control', join(dir.path, 'ctl.sock')]);
    try {
      const result = await runToolAsync('nbdinfo', ['--size', `nbd+unix:///vol1?socket=${path}`]);
      expect(result.status, result.stderr).toBe(0);
    } finally {
      await server.stop();
    }
  });
});
