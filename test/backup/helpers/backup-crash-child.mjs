// Child process of backup-crash.test.ts: opens a volume, copies it to a reference file at the start
// instant, starts a slow tape backup (optionally with a spool and a slowed target), and does whole-
// track host writes meanwhile, announcing each on stdout before it starts ("begin <track> <n>") and
// after it returns ("ack <track> <n>"), and its copy's progress ("progress <fraction>"). The parent
// SIGKILLs it at a drawn point of that progress. Runs dist/.
import { copyFileSync } from 'node:fs';
import { openVolume } from '../../../dist/api/volume-api.js';
import { TapeBackupSession } from '../../../dist/techniques/tape-backup/tape-backup-session.js';
import { Prng } from '../../../dist/base/prng.js';

const [source, tape, reference, seedText, spool, targetMbps, firstText, lastText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
const first = Number(firstText);
const span = Number(lastText) - first + 1;
const volume = openVolume(source);
copyFileSync(source, reference);
const session = TapeBackupSession.start(volume, {
  tapePath: tape,
  workers: 1,
  throttleMbps: 3,
  ...(spool !== '-' ? { spoolPath: spool } : {}),
  ...(targetMbps !== '-' ? { targetMbps: Number(targetMbps) } : {}),
});
process.stdout.write('ready\n');
// The copy's progress, so the parent can kill at a drawn point of it (test/harness/crash-child.ts).
session.on('progress', (p) => process.stdout.write(`progress ${p.bytesTotal > 0 ? p.bytesCopied / p.bytesTotal : 0}\n`));
let n = 0;
const timer = setInterval(() => {
  for (let k = 0; k < 1; k++, n++) {
    const track = first + prng.below(span);
    process.stdout.write(`begin ${track} ${n}\n`);
    volume.writeTrackRecords(track, [{ key: Buffer.alloc(0), data: crashPayload(n) }]);
    process.stdout.write(`ack ${track} ${n}\n`);
  }
}, 3);
session.done.then(
  () => {
    clearInterval(timer);
    volume.close();
    process.stdout.write('done\n');
  },
  (error) => {
    clearInterval(timer);
    process.stderr.write(`${error.message}\n`);
    process.exit(3);
  },
);

function crashPayload(n) {
  const data = Buffer.alloc(200 + ((n * 37) % 3000), n & 0xff);
  data.writeUInt32BE(n, 0);
  return data;
}
