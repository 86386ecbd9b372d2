#!/usr/bin/env bash
# The whole ML-1M pipeline of docs/results/ml-1m.md: the d = 128 dense teacher, 2-core
# tensor-train students distilled from it at three ranks, one without distillation, and the
# report, which also lists the d = 64 teacher and students still in models/ (trained by this
# script's earlier versions; each package's notes hold its command, and the report prints them).
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
TEACHER="$OUT/ml-1m-teacher-d128"
source scripts/ml1m-recipe.sh

[ -f "$TEACHER/manifest.json" ] || ml1m_teacher "$TEACHER" "${TEACHER_EPOCHS:-15}" "$THREADS"

student() { # name, rank, then distill options
  local name=$1 rank=$2
  shift 2
  [ -f "$OUT/$name/manifest.json" ] ||
    ml1m_student "$TEACHER" "$OUT/$name" "$rank" "${STUDENT_EPOCHS:-12}" "$@"
}
run() { # runs "$@" in the background, at most $JOBS at once
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  "$@" &
}
run student ml-1m-d128-tt2-r16 16
run student ml-1m-d128-tt2-r10 10
# The rank-16 shape trained from scratch on its own cross-entropy: compression without distillation.
run student ml-1m-d128-tt2-r16-nokd 16 --no-kd --no-contrastive --no-predictive \
  --init-cores gaussian --init-encoder random
run student ml-1m-d128-tt2-r32 32
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done

d64="models/ml-1m-teacher,models/ml-1m-tt-r16-nokd,models/ml-1m-tt-r16,models/ml-1m-tt-r12"
npx pocketrec report --dataset ml-1m --out docs/results/ml-1m.md \
  --models "$d64,$TEACHER,$OUT/ml-1m-d128-tt2-r16-nokd,$OUT/ml-1m-d128-tt2-r10,$OUT/ml-1m-d128-tt2-r16,$OUT/ml-1m-d128-tt2-r32"
