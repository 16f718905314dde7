#!/usr/bin/env node
// Vault and recall throughput against `aws s3 cp` of the same cartridge to the same S3 server
// (issue 24): a real radosgw on loopback (test/harness/start-radosgw.sh), rounds interleaved
// (snaptape, then aws, each round), medians reported, with the load average before and after.
// Prints a Markdown section on stdout. Needs Ceph and the AWS CLI (apt-get install ceph-mon
// ceph-osd ceph-common radosgw awscli).
// Usage: node bench/vault-bench.mjs [--rounds N] [--cylinders C]
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'snaptape');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const ROUNDS = option('--rounds', 5);
const CYLINDERS = option('--cylinders', 400);
const WORK = join(ROOT, 'bench', 'work', 'vault');
const log = (text) => process.stderr.write(`${text}\n`);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function run(argv, env = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return seconds;
}
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const ceph = join(WORK, 'ceph');
const [monPort, rgwPort] = [await freePort(), await freePort()];
const key = 'SNAPTAPEBENCH';
const secret = 'snaptape-bench-secret';
log('starting radosgw…');
spawnSync('bash', [join(ROOT, 'test', 'harness', 'start-radosgw.sh'), ceph, String(monPort), String(rgwPort), key, secret], {
  stdio: 'inherit',
  env: { ...process.env, SNAPTAPE_MEMSTORE_BYTES: String(8 * 1024 ** 3) },
});
const endpoint = `http://127.0.0.1:${rgwPort}`;
const env = {
  AWS_ENDPOINT_URL: endpoint,
  AWS_ACCESS_KEY_ID: key,
  AWS_SECRET_ACCESS_KEY: secret,
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const stop = () => {
  const runDir = join(ceph, 'run');
  for (const name of ['mon.a.pid', 'osd.0.pid', 'client.rgw.pid']) {
    try {
      process.kill(Number(readFileSync(join(runDir, name), 'utf8')), 'SIGKILL');
    } catch {
      // Not running.
    }
  }
};
try {
  for (let i = 0; i < 50; i++) if (spawnSync('curl', ['-s', '-o', '/dev/null', endpoint]).status === 0) break;
  const aws = (...a) => run(['aws', '--endpoint-url', endpoint, 's3', ...a], env);
  run(['aws', '--endpoint-url', endpoint, 's3', 'mb', 's3://bench'], env);

  log(`making a backup tape of a dense 3390 of ${CYLINDERS} cylinders…`);
  const source = join(WORK, 'source.ckd');
  const cartridge = join(WORK, 'BV0001.aws');
  run([process.execPath, BIN, 'init', source, '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'BENCH1']);
  run([process.execPath, BIN, 'fill', source, '--percent', '100']);
  run([process.execPath, BIN, 'backup', source, '--to', cartridge]);
  const bytes = statSync(cartridge).size;
  const driver = (op, ...a) =>
    run(
      [
        process.execPath,
        '--input-type=module',
        '-e',
        `import { vaultTape, recallTape } from ${JSON.stringify(join(ROOT, 'dist/api/index.js'))};
         const [op, a, b, c] = process.argv.slice(1);
         if (op === 'vault') await vaultTape(a, b, c); else await recallTape(a, b, c);`,
        op,
        ...a,
      ],
      env,
    );

  const times = { vault: [], awsUp: [], recall: [], awsDown: [] };
  const loadBefore = loadavg();
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    times.vault.push(driver('vault', cartridge, 'BV0001', `s3://bench/r${round}`));
    times.awsUp.push(aws('cp', '--only-show-errors', cartridge, `s3://bench/aws${round}/BV0001.aws`));
    const back = join(WORK, `recalled-${round}.aws`);
    times.recall.push(driver('recall', `s3://bench/r${round}`, 'BV0001', back));
    rmSync(back);
    times.awsDown.push(aws('cp', '--only-show-errors', `s3://bench/aws${round}/BV0001.aws`, back));
    rmSync(back);
    aws('rm', '--recursive', '--only-show-errors', `s3://bench/r${round}`);
    aws('rm', '--recursive', '--only-show-errors', `s3://bench/aws${round}`);
  }
  const loadAfter = loadavg();
  const mb = bytes / 1e6;
  const row = (what, ours, theirs) => {
    const a = median(ours);
    const b = median(theirs);
    return `| ${what} | ${a.toFixed(2)} s (${(mb / a).toFixed(0)} MB/s) | ${b.toFixed(2)} s (${(mb / b).toFixed(0)} MB/s) | ${(b / a).toFixed(2)}× |`;
  };
  console.log(
    [
      `A ${mb.toFixed(0)} MB backup tape (a dense 3390 of ${CYLINDERS} cylinders) to a one-node radosgw on loopback (memstore OSD),`,
      `${ROUNDS} rounds interleaved (snaptape, then \`aws s3 cp\`, in each round), medians. Load average ${loadBefore} before, ${loadAfter} after.`,
      `The vault time includes building the manifest (a SHA-256 of the cartridge and of each data set) and the size check;`,
      '`aws s3 cp` uploads the bytes alone. A recall checks the SHA-256 as it streams.',
      '',
      '| what | snaptape | `aws s3 cp` | throughput ratio |',
      '| --- | --- | --- | --- |',
      row('vault (upload)', times.vault, times.awsUp),
      row('recall (download)', times.recall, times.awsDown),
    ].join('\n'),
  );
} finally {
  stop();
  rmSync(WORK, { recursive: true, force: true });
}
