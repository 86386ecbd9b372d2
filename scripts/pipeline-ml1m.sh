#!/usr/bin/env bash
# The whole ML-1M pipeline of docs/results/ml-1m.md: the dense teacher, tensor-train
# students with distillation at three ranks, one without, and the report.
# Each step checkpoints after every epoch; rerunning the script resumes where it stopped
# and skips models that are already exported. The teacher trains alone, so it shares each
# batch between THREADS threads (pocketrec's --threads); then JOBS students train at once,
# one thread each. The defaults suit a 2-core machine (npm run bench:train measures what
# a second thread gains at batch 32, where it is little: docs/training.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-models}
JOBS=${JOBS:-2}
THREADS=${THREADS:-2}
TEACHER="$OUT/ml-1m-teacher"
pr() { npx pocketrec "$@"; }

# 15 epochs is the shipped teacher's run (models/ml-1m-teacher); TEACHER_EPOCHS=60 lets
# patience decide instead.
[ -f "$TEACHER/manifest.json" ] || pr train --model sasrec --dataset ml-1m --out "$TEACHER" \
  --max-len 50 --loss full --lr 0.002 --batch 32 --epochs ${TEACHER_EPOCHS:-15} --patience 3 --lr-decay 0.5 --windows all \
  --threads "$THREADS"

# Ranks 8, 12 and 16 with STP t=2 on 16x16x14:4x4x4 give about 133x, 67x and 41x smaller item tables.
student() { # name, then distill options
  local name=$1
  shift
  [ -f "$OUT/$name/manifest.json" ] || pr distill --teacher "$TEACHER" --out "$OUT/$name" \
    --tt-shape auto --cores 3 --stp 2 --epochs ${STUDENT_EPOCHS:-20} --patience 2 --lr 0.004 "$@"
}
run() { # runs "$@" in the background, at most $JOBS at once
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  "$@" &
}
run student ml-1m-tt-r16 --rank 16
# The same student shape trained from scratch on its own cross-entropy: compression without distillation.
run student ml-1m-tt-r16-nokd --rank 16 --no-kd --no-contrastive --no-predictive \
  --init-cores gaussian --init-encoder random
run student ml-1m-tt-r12 --rank 12
run student ml-1m-tt-r8 --rank 8
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done

pr report --dataset ml-1m --out docs/results/ml-1m.md \
  --models "$TEACHER,$OUT/ml-1m-tt-r16-nokd,$OUT/ml-1m-tt-r16,$OUT/ml-1m-tt-r12,$OUT/ml-1m-tt-r8"
