// Child process of clone-crash.test.ts: runs a clone session (mode "start": CREATE + PRECOPY; mode
// "resume": takes up the session recorded beside the destination) with host writes of whole tracks
// on the source (and, after ACTIVATE, on the destination too). Each write is announced before it
// starts ("begin src|dst <track> <n>") and after it returns ("ack src|dst <track> <n>"). ACTIVATE is
// taken after `activateAfter` writes, with a reference copy of the source made in the same
// synchronous stretch (the point in time). When its copy is done it says "copied" and waits for the
// parent's "go" on stdin before TERMINATE, so a kill drawn for the end of the copy lands before the
// child finishes. The parent SIGKILLs it at a seeded moment. Runs dist/.
import { copyFileSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { openVolume } from '../../../dist/api/volume-api.js';
import { openResumedClone } from '../../../dist/api/clone-api.js';
import { CloneSession } from '../../../dist/techniques/clone/clone-session.js';
import { Prng } from '../../../dist/base/prng.js';

const [mode, sourcePath, targetPath, referencePath, seedText, firstNText, countText, activateAfterText, throttleText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
/** A float in [0, 1) from the project's seeded PRNG (the same mulberry32 sequence as before). */
const next = () => prng.nextUint32() / 4294967296;
const out = (line) => process.stdout.write(`${line}\n`);
// Checkpoints every 50 ms: the file's bits are then cleared often, so the in-place marks matter.
const options = { workers: 1, throttleMbps: Number(throttleText), checkpointMs: 50 };

let source;
let target;
let session;
if (mode === 'start') {
  source = openVolume(sourcePath);
  target = openVolume(targetPath);
  session = CloneSession.create(source, target, { ...options, precopy: true });
} else {
  ({ source, target, session } = openResumedClone(targetPath, options));
}
out(`ready ${session.phase}`);

const activate = () => {
  // The point in time: the reference and ACTIVATE in one synchronous stretch.
  copyFileSync(sourcePath, referencePath);
  session.activate();
  out('activated');
};

const tracks = source.ckd.trackCount;
let n = Number(firstNText);
const count = Number(countText);
const activateAfter = Number(activateAfterText);
for (let i = 0; i < count; i++) {
  if ((session.phase === 'created' || session.phase === 'precopy') && i >= activateAfter) activate();
  const active = session.phase === 'active' || session.phase === 'copied';
  const onTarget = active && next() < 0.5;
  const volume = onTarget ? target : source;
  const which = onTarget ? 'dst' : 'src';
  const track = 1 + Math.floor(next() * (tracks - 1));
  out(`begin ${which} ${track} ${n}`);
  volume.writeTrackRecords(track, [{ key: Buffer.alloc(0), data: crashPayload(n) }]);
  out(`ack ${which} ${track} ${n}`);
  n++;
  // Slower writes before ACTIVATE, so the precopy's passes finish and checkpoint between them.
  await sleep(active ? 1 + Math.floor(next() * 4) : 5 + Math.floor(next() * 15));
}
if (session.phase === 'created' || session.phase === 'precopy') activate();
await session.whenCopied();
const status = session.status();
out(`copied ${status.tracksLeft} ${status.indirect}`);
process.stdin.resume();
await once(process.stdin, 'data');
session.terminate();
out('terminated');
target.close();
source.close();
out('done');

function crashPayload(k) {
  const data = Buffer.alloc(200 + ((k * 37) % 3000), k & 0xff);
  data.writeUInt32BE(k, 0);
  return data;
}
