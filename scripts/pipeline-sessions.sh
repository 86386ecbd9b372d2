#!/usr/bin/env bash
# The session data sets of the paper (Tmall and RetailRocket, docs/results/<name>.md): a
# dense teacher, 2-core tensor-train students distilled from it at ranks 16, 32 and 64 (STP
# t=2), the rank-32 student without distillation, each of them again with its repeat bonus
# fitted on validation (pocketrec tune-repeats, suffix -rb), and the report.
# Usage: scripts/pipeline-sessions.sh [tmall] [retailrocket]   (both by default)
# Resumable like pipeline-ml1m.sh, with the same THREADS (the teacher's) and JOBS (students
# at once).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs}
JOBS=${JOBS:-2}
THREADS=${THREADS:-2}
pr() { npx pocketrec "$@"; }
run() {
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  "$@" &
}

datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(tmall retailrocket)
for dataset in "${datasets[@]}"; do
  teacher="$OUT/$dataset-teacher"
  # Sessions are short (Tmall averages 6.4 clicks), so a batch holds twice as many as on ML-1M.
  [ -f "$teacher/manifest.json" ] || pr train --model sasrec --dataset "$dataset" --out "$teacher" \
    --max-len 50 --loss full --lr 0.002 --batch 64 --epochs ${TEACHER_EPOCHS:-12} --patience 2 \
    --lr-decay 0.5 --windows all --threads "$THREADS"
  student() { # name, rank, then distill options
    local name=$1 rank=$2
    shift 2
    [ -f "$OUT/$name/manifest.json" ] || pr distill --teacher "$teacher" --out "$OUT/$name" \
      --tt-shape auto --cores 2 --rank "$rank" --stp 2 --batch 64 --epochs ${STUDENT_EPOCHS:-8} \
      --patience 2 --lr 0.004 "$@"
  }
  # Ranks 16, 32 and 64 give item tables about 80x, 40x and 20x smaller.
  run student "$dataset-tt-r32-nokd" 32 --no-kd --no-contrastive --no-predictive \
    --init-cores gaussian --init-encoder random
  models=("$teacher" "$OUT/$dataset-tt-r32-nokd")
  for rank in 16 32 64; do
    run student "$dataset-tt-r$rank" "$rank"
    models+=("$OUT/$dataset-tt-r$rank")
  done
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done
  for model in "${models[@]}"; do
    [ -f "$model-rb/manifest.json" ] || pr tune-repeats "$model" --dataset "$dataset" --out "$model-rb"
  done
  list=$(printf '%s,' "${models[@]}" "${models[@]/%/-rb}")
  pr report --dataset "$dataset" --out "docs/results/$dataset.md" --models "${list%,}"
done
