#!/usr/bin/env bash
# Quotient-remainder points of the ML-1M frontier (docs/results/ml-1m-frontier.md): SASRec
# trained from scratch with a quotient-remainder item table (train --item-table qr, row i the
# element-wise product of quotient row i div m and remainder row i mod m), the recipe of
# pipeline-ml1m-jpq.sh, at the widths and remainder rows in CONFIGS ("dim:buckets" pairs;
# 59 = ⌈√3417⌉ is the partition of fewest stored rows, and the command's default). Each
# training checkpoints after every epoch; rerunning resumes and skips finished packages.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ml1m-qr}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-20}
for config in ${CONFIGS:-32:59 64:59 64:16}; do
  dim=${config%%:*}
  buckets=${config##*:}
  out="$OUT/d$dim-m$buckets"
  [ -f "$out/manifest.json" ] && continue
  npx pocketrec train --model sasrec --dataset ml-1m --out "$out" --dim "$dim" --max-len 50 \
    --item-table qr --qr-buckets "$buckets" --loss full --lr 0.002 --batch 32 \
    --epochs "$EPOCHS" --patience 3 --lr-decay 0.5 --windows all --threads "$THREADS"
done
