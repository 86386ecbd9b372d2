#!/usr/bin/env bash
# Dense SASRec students distilled from the d = 128 teacher by its logits (train --teacher):
# the "same model, trained with more help" alternative of the ML-1M frontier
# (docs/results/ml-1m-frontier.md). The dense line's recipe (pipeline-ml1m-dense.sh) with the
# KL to the teacher's softmax weighted KD_ALPHA; QAT=int8|int4 adds quantisation-aware training
# (the package is then stored with pocketrec quantize --dtype $QAT). Each training checkpoints after every epoch;
# rerunning the script resumes where it stopped and skips finished widths.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ml1m-distilled}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-20}
TEACHER=${TEACHER:-models/ml-1m-teacher-d128}
KD_ALPHA=${KD_ALPHA:-0.5}
QAT=${QAT:-}
for dim in ${DIMS:-32 24 16}; do
  out="$OUT/d$dim-kd$KD_ALPHA${QAT:+-qat-$QAT}"
  [ -f "$out/manifest.json" ] && continue
  npx pocketrec train --model sasrec --dataset ml-1m --out "$out" --dim "$dim" --max-len 50 \
    --loss full --lr 0.002 --batch 32 --epochs "$EPOCHS" --patience 3 --lr-decay 0.5 \
    --windows all --teacher "$TEACHER" --kd-alpha "$KD_ALPHA" \
    ${QAT:+--qat "$QAT"} --threads "$THREADS"
done
