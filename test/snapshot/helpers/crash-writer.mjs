// Child process of snapshot-crash.test.ts: opens a mapped volume and does whole-track writes,
// announcing each on stdout before it starts ("begin <track> <n>") and after it returns
// ("ack <track> <n>"). The parent SIGKILLs it at a random moment. Runs the compiled dist/.
import { openVolume } from '../../../dist/api/volume-api.js';
import { Prng } from '../../../dist/base/prng.js';

const [path, seedText, countText, firstText, lastText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
/** A float in [0, 1) from the project's seeded PRNG (the same mulberry32 sequence as before). */
const next = () => prng.nextUint32() / 4294967296;
const first = Number(firstText);
const span = Number(lastText) - first + 1;
const volume = openVolume(path);
process.stdout.write('ready\n');
for (let n = 0; n < Number(countText); n++) {
  const track = first + Math.floor(next() * span);
  process.stdout.write(`begin ${track} ${n}\n`);
  volume.writeTrackRecords(track, [{ key: Buffer.alloc(0), data: crashPayload(n) }]);
  process.stdout.write(`ack ${track} ${n}\n`);
}
volume.close();
process.stdout.write('done\n');

function crashPayload(n) {
  const data = Buffer.alloc(200 + ((n * 37) % 3000), n & 0xff);
  data.writeUInt32BE(n, 0);
  return data;
}
