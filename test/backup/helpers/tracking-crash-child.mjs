// Child process of tracking-crash.test.ts: opens a tracked volume through the library (so its change
// tracker attaches) and does whole-track host writes, announcing each on stdout before it starts
// ("begin <track> <n>") and after it returns ("ack <track> <n>"). In mode "incremental" it also runs
// a slow incremental backup to <tape> meanwhile and reports its progress ("progress <fraction>");
// the parent SIGKILLs it at a drawn point. Runs dist/.
import { openVolume } from '../../../dist/api/volume-api.js';
import { TapeBackupSession } from '../../../dist/techniques/tape-backup/tape-backup-session.js';
import { Prng } from '../../../dist/base/prng.js';

const [mode, source, tape, seedText, firstText, lastText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
const first = Number(firstText);
const span = Number(lastText) - first + 1;
const volume = openVolume(source);
let session;
let n = 0;
if (mode === 'incremental') {
  // Changes since the full backup first, so the incremental has tracks to copy while it is killed.
  for (; n < 40; n++) volume.writeTrackRecords(first + prng.below(span), [{ key: Buffer.alloc(0), data: payload(n) }]);
  session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 0.1, incremental: true });
  session.on('progress', (p) => process.stdout.write(`progress ${p.bytesTotal > 0 ? p.bytesCopied / p.bytesTotal : 0}\n`));
}
process.stdout.write('ready\n');
const timer = setInterval(() => {
  const track = first + prng.below(span);
  process.stdout.write(`begin ${track} ${n}\n`);
  volume.writeTrackRecords(track, [{ key: Buffer.alloc(0), data: payload(n) }]);
  process.stdout.write(`ack ${track} ${n}\n`);
  n++;
  if (!session && n >= 200) finish();
}, 3);
session?.done.then(finish, (error) => {
  clearInterval(timer);
  process.stderr.write(`${error.message}\n`);
  process.exit(3);
});

function finish() {
  clearInterval(timer);
  volume.close();
  process.stdout.write('done\n');
}

function payload(n) {
  const data = Buffer.alloc(200 + ((n * 37) % 3000), n & 0xff);
  data.writeUInt32BE(n, 0);
  return data;
}
