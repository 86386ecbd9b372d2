#!/usr/bin/env bash
# The dense SASRec line of the ML-1M frontier (docs/results/ml-1m-frontier.md): the shipped
# d = 64 teacher's recipe at every smaller width, so that each compressed model is held against
# the plain model of its size trained with the same care. d = 64 and d = 128 are the shipped
# teachers (models/ml-1m-teacher, models/ml-1m-teacher-d128). Each training checkpoints after
# every epoch; rerunning the script resumes where it stopped and skips finished widths.
# QAT=int8|int4 adds quantisation-aware training (store the package with pocketrec quantize
# --dtype $QAT): the control of a distilled QAT student (pipeline-ml1m-distilled.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ml1m-dense}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-20}
QAT=${QAT:-}
for dim in ${DIMS:-8 16 24 32 48}; do
  out="$OUT/d$dim${QAT:+-qat-$QAT}"
  [ -f "$out/manifest.json" ] && continue
  npx pocketrec train --model sasrec --dataset ml-1m --out "$out" --dim "$dim" --max-len 50 \
    --loss full --lr 0.002 --batch 32 --epochs "$EPOCHS" --patience 3 --lr-decay 0.5 \
    --windows all ${QAT:+--qat "$QAT"} --threads "$THREADS"
done
