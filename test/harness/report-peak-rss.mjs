// Preloaded (`node --import`) into a CLI child by peak-rss.ts: when the child exits, it writes to the
// file named by SNAPTAPE_PEAK_RSS_FILE its peak resident set size (getrusage ru_maxrss, in KiB) and
// its I/O counts from /proc/self/io (bytes read, write calls), as one JSON object.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.SNAPTAPE_PEAK_RSS_FILE;

/** rchar and syscw of /proc/self/io: every byte read and every write call, cached or not. */
function ioCounts() {
  const io = readFileSync('/proc/self/io', 'utf8');
  const field = (name) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? Number.NaN);
  return { readBytes: field('rchar'), writeCalls: field('syscw') };
}

if (out) process.on('exit', () => writeFileSync(out, JSON.stringify({ maxRssKib: process.resourceUsage().maxRSS, ...ioCounts() })));
