#!/usr/bin/env node
/**
 * An NBD client in a process of its own that writes 4 KiB at a fixed rate and times each write, for
 * the host write latency of bench/nbd-latency.mjs. It speaks NBD over a unix socket to whatever
 * server is there (snaptape serve or qemu-nbd), so the server's parsing, scheduling and I/O are all
 * inside what it times.
 *
 * Write k is due at k / rate after the start; the writes go one at a time. Raw latency runs from a
 * write's start to its reply; corrected latency from when it was due (a write held up behind a slow
 * one counts the wait: coordinated omission). Both go into HdrHistograms (3 significant digits).
 * Each write lands inside the data of the first record of a random track past the first cylinders
 * (offset `--record-offset` in the track's slot), so the tracks keep their count/key/data layout.
 *
 * Usage: node bench/nbd-write-client.mjs --socket PATH --slot BYTES --tracks N [--rate 1000]
 *   [--first-track 150] [--record-offset 29] [--record-bytes 27998] [--base 0] [--seconds 600] [--warmup 500]
 *   [--timeline FILE]
 * It prints `ready` once warmed up, stops at SIGTERM (or after --seconds) and prints one JSON line: the write count and the raw and
 * corrected p50, p99, p99.9 and max in microseconds. With --timeline, it also writes one line per
 * timed write to FILE: when it was due, when it began and when it ended, in ms of the wall clock
 * (Date.now()'s epoch, with µs), so that slow writes can be laid beside a profile of the server.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import hdr from 'hdr-histogram-js';
import { NbdClient } from '../dist/export/nbd-client.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  return name === '--socket' || name === '--timeline' ? args[at + 1] : Number(args[at + 1]);
};
const SOCKET = option('--socket', undefined);
const SLOT = option('--slot', 0);
const TRACKS = option('--tracks', 0);
const RATE = option('--rate', 1000);
const FIRST_TRACK = option('--first-track', 150);
const RECORD_OFFSET = option('--record-offset', 29);
const RECORD_BYTES = option('--record-bytes', 27998);
/** Bytes before the first slot in the export (qemu-nbd serving the image file: its 512-byte header). */
const BASE = option('--base', 0);
const SECONDS = option('--seconds', 600);
const TIMELINE = option('--timeline', undefined);
const WRITE_BYTES = 4096;
/** Untimed writes before the schedule starts. */
const WARMUP_WRITES = option('--warmup', 500);
if (SOCKET === undefined || SLOT <= 0 || TRACKS <= FIRST_TRACK) throw new Error('usage: --socket PATH --slot BYTES --tracks N (see the header)');

const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
const raw = histogram();
const corrected = histogram();
const data = randomBytes(WRITE_BYTES);
/** due, began, ended of each timed write (performance.now() ms), with --timeline. */
const timeline = [];
const client = await NbdClient.connect({ socketPath: SOCKET, maxInFlight: 1 });
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

// Warm-up, untimed: the first writes of a connection meet a cold server (JIT, first page faults).
for (let k = 0; k < WARMUP_WRITES && !stopping; k++) await client.write(BASE + (FIRST_TRACK + (k % (TRACKS - FIRST_TRACK))) * SLOT + RECORD_OFFSET, data);

process.stdout.write('ready\n');
const start = performance.now();
const deadline = start + SECONDS * 1000;
for (let k = 0; !stopping && performance.now() < deadline; k++) {
  const due = start + (k * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 0) await sleep(wait);
  if (stopping) break;
  const track = FIRST_TRACK + Math.floor(Math.random() * (TRACKS - FIRST_TRACK));
  const within = Math.floor(Math.random() * (RECORD_BYTES - WRITE_BYTES));
  const began = performance.now();
  await client.write(BASE + track * SLOT + RECORD_OFFSET + within, data);
  const ended = performance.now();
  raw.recordValue(Math.max(1, Math.round((ended - began) * 1000)));
  corrected.recordValue(Math.max(1, Math.round((ended - Math.min(due, began)) * 1000)));
  if (TIMELINE !== undefined) timeline.push(due, began, ended);
}
if (TIMELINE !== undefined) {
  const wall = (ms) => (performance.timeOrigin + ms).toFixed(3);
  const lines = [];
  for (let i = 0; i < timeline.length; i += 3) lines.push(`${wall(timeline[i])} ${wall(timeline[i + 1])} ${wall(timeline[i + 2])}`);
  writeFileSync(TIMELINE, `${lines.join('\n')}\n`);
}
await client.disconnect();
const figures = (h) => ({ p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9), max: h.maxValue });
process.stdout.write(`${JSON.stringify({ writes: raw.totalCount, raw: figures(raw), corrected: figures(corrected) })}\n`);
