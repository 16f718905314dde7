#!/usr/bin/env bash
# The main job of snaptape on an embedded default, as `npm run demo` runs it:
# make a sample 3390 volume here in images/, back it up to a virtual tape while a synthetic host
# writer changes it, list and verify the tape, restore it into a new volume, and compare the
# restore with the volume as it was at the instant the backup started.
# SNAPTAPE_DEMO_DIR runs it in another folder (the test of this script uses its own temp dir).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "${SNAPTAPE_DEMO_DIR:-$repo/images}"
snaptape() { "$repo/bin/snaptape" "$@"; }
step() { printf '\n== %s\n' "$*"; }

rm -f demo-*.ckd demo-*.aws demo-*.txt demo-*.sizes demo-*.lock demo-*.json demo-*.bitmap demo-*.layout.json demo.aws*

step "1. A new 3390 volume of 300 cylinders (sparse: only home addresses, R0 and end markers are written)"
snaptape init demo-source.ckd --type 3390 --cyls 300 --volser DEMO01
du -h --apparent-size demo-source.ckd | sed 's/^/   nominal: /'
du -h demo-source.ckd | sed 's/^/   on disk: /'

step "2. Data sets: a text data set and 70% of the free space in pseudo-random blocks"
snaptape alloc demo-source.ckd PROD.PAYROLL.TEXT --tracks 15 --recfm FB --lrecl 80 --blksize 27920
for i in $(seq 1 500); do printf 'EMPLOYEE %05d  SALARY %07d  DEPT %03d\n' "$i" $((i * 137 % 9000000)) $((i % 40)); done > demo-payroll.txt
snaptape put demo-source.ckd PROD.PAYROLL.TEXT demo-payroll.txt --text
snaptape fill demo-source.ckd --seed 42 --percent 70
snaptape ls demo-source.ckd

step "3. Point-in-time backup to a virtual tape while a host writer changes the volume (1,000 writes/s)"
# The demo's own image, so the writer may change it (--load-in-place); on a volume of yours, --load
# alone writes into a scratch copy and leaves the image as it was.
snaptape backup demo-source.ckd --to demo.aws --load random:1000 --load-in-place --reference-copy demo-at-start.ckd

step "4. The tape, as snaptape and Hercules list it"
snaptape tape ls demo.aws
if command -v tapemap >/dev/null; then tapemap demo.aws 2>/dev/null | grep -E '^(File|HDR1|EOF1|End)' | head -8; fi

step "5. Verify the tape (structure, labels, SHA-256 of each element)"
snaptape verify demo.aws

step "6. Restore into a new volume (the source's device type and size, as the tape records them)"
snaptape restore demo.aws --to demo-restored.ckd --new-volume

step "7. Compare the restore with the volume at the instant the backup started"
snaptape compare demo-at-start.ckd demo-restored.ckd
if cmp -s demo-source.ckd demo-at-start.ckd; then echo "   (the host writer changed nothing?)"; else echo "   the live volume has moved on since; the tape holds the start instant"; fi
snaptape get demo-restored.ckd PROD.PAYROLL.TEXT demo-payroll-restored.txt --text
cmp demo-payroll.txt demo-payroll-restored.txt && echo "   PROD.PAYROLL.TEXT restored intact"
if command -v dasdls >/dev/null; then dasdls demo-restored.ckd 2>/dev/null; fi

printf '\nDemo complete: files are in %s (git-ignored).\n' "$(pwd)"
