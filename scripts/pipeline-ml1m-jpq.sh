#!/usr/bin/env bash
# RecJPQ points of the ML-1M frontier (docs/results/ml-1m-frontier.md): SASRec trained from
# scratch with a RecJPQ item table (train --item-table jpq), the d = 64 teacher's recipe, at
# the widths and splits in CONFIGS ("dim:splits" pairs). Each training checkpoints after every
# epoch; rerunning resumes and skips finished packages.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ml1m-jpq}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-20}
for config in ${CONFIGS:-64:8 64:4 32:8}; do
  dim=${config%%:*}
  splits=${config##*:}
  out="$OUT/d$dim-m$splits"
  [ -f "$out/manifest.json" ] && continue
  npx pocketrec train --model sasrec --dataset ml-1m --out "$out" --dim "$dim" --max-len 50 \
    --item-table jpq --jpq-splits "$splits" --loss full --lr 0.002 --batch 32 \
    --epochs "$EPOCHS" --patience 3 --lr-decay 0.5 --windows all --threads "$THREADS"
done
