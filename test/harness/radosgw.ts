/**
 * A real S3 server for the vault tests: Ceph's radosgw on a one-node cluster (start-radosgw.sh),
 * on loopback ports, in the test's own temp dir, stopped by killing its daemons. `.ci/run`
 * installs Ceph; a missing binary fails the test with the line that installs it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasTool } from './external-tools.js';

export interface Radosgw {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The environment a CLI run needs to reach this server with the usual AWS settings. */
  readonly env: NodeJS.ProcessEnv;
  /** Freezes radosgw (SIGSTOP): requests hang, as on a stalled network. */
  pause(): void;
  resume(): void;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function stopDaemons(dir: string): void {
  // A paused radosgw must run again to die of SIGKILL promptly in every kernel; SIGCONT first.
  const runDir = join(dir, 'run');
  if (!existsSync(runDir)) return;
  for (const name of readdirSync(runDir).filter((n) => n.endsWith('.pid'))) {
    const pid = Number(readFileSync(join(runDir, name), 'utf8').trim());
    try {
      if (pid > 0) {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      }
    } catch {
      // Already gone.
    }
  }
}

/** Starts radosgw under `dir` (which must be empty and the caller's own) and waits until it answers. */
export async function startRadosgw(dir: string): Promise<Radosgw> {
  for (const tool of ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin']) {
    if (!hasTool(tool)) throw new Error(`${tool} is not installed: run apt-get install -y ceph-mon ceph-osd radosgw (as .ci/run does)`);
  }
  const script = fileURLToPath(new URL('./start-radosgw.sh', import.meta.url));
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const accessKeyId = 'SNAPTAPETEST';
  const secretAccessKey = 'snaptape-test-secret';
  try {
    execFileSync('bash', [script, dir, String(monPort), String(rgwPort), accessKeyId, secretAccessKey], { stdio: 'pipe', timeout: 180_000 });
  } catch (error) {
    stopDaemons(dir);
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`radosgw did not start in ${dir}: ${stderr.slice(-2000)}`);
  }
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  // Bounded: radosgw answers within a few seconds of daemonizing, or the start failed.
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await fetch(endpoint);
      if (answer.status < 500) break;
    } catch {
      if (attempt > 100) {
        stopDaemons(dir);
        throw new Error(`radosgw at ${endpoint} does not answer`);
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const signalRgw = (signal: NodeJS.Signals): void => {
    process.kill(Number(readFileSync(join(dir, 'run', 'client.rgw.pid'), 'utf8').trim()), signal);
  };
  return { endpoint, accessKeyId, secretAccessKey, env, pause: () => signalRgw('SIGSTOP'), resume: () => signalRgw('SIGCONT'), stop: () => stopDaemons(dir) };
}
