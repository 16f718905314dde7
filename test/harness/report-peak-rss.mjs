// Preloaded (`node --import`) into a CLI child by peak-rss.ts: when the child exits, it writes its
// peak resident set size (getrusage ru_maxrss, in KiB) to the file named by SNAPTAPE_PEAK_RSS_FILE.
import { writeFileSync } from 'node:fs';

const out = process.env.SNAPTAPE_PEAK_RSS_FILE;
if (out) process.on('exit', () => writeFileSync(out, String(process.resourceUsage().maxRSS)));
