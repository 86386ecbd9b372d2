#!/usr/bin/env bash
# A session data set's frontier (docs/results/<dataset>-frontier.md): P@20 against
# whole-package bytes, every package with its repeat bonus fitted on validation (the issue's
# "repeat bonus on both sides"). The teacher and the tensor-train students come from
# pipeline-sessions.sh (run it first, or let this script run it); beside them dense SASRec at
# smaller widths with the teacher's recipe, and each model again in int8 and int4. The bonus is
# tuned on the float model (tune-repeats writes float32), then the tuned package quantised
# (quantize keeps architecture.repeatBonus). Everything is skipped when already there, so
# rerunning resumes; trainings checkpoint after every epoch.
#   scripts/pipeline-sessions-frontier.sh retailrocket    # DIMS, THREADS, OUT override
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: pipeline-sessions-frontier.sh <tmall|retailrocket>}
OUT=${OUT:-runs}
THREADS=${THREADS:-1}
DIMS=${DIMS:-32 16}
pr() { npx pocketrec "$@"; }
[ -f "$OUT/$DATASET-teacher/manifest.json" ] || OUT="$OUT" scripts/pipeline-sessions.sh "$DATASET"
# The teacher's recipe (pipeline-sessions.sh) at smaller widths.
for dim in $DIMS; do
  out="$OUT/$DATASET-d$dim"
  [ -f "$out/manifest.json" ] || pr train --model sasrec --dataset "$DATASET" --out "$out" \
    --dim "$dim" --max-len 50 --loss full --lr 0.002 --batch 64 --epochs ${TEACHER_EPOCHS:-12} \
    --patience 2 --lr-decay 0.5 --windows all --threads "$THREADS"
done
models=("$OUT/$DATASET-teacher" "$OUT/$DATASET-tt-r32-nokd")
for rank in 16 32 64; do models+=("$OUT/$DATASET-tt-r$rank"); done
for dim in $DIMS; do models+=("$OUT/$DATASET-d$dim"); done
points=()
for model in "${models[@]}"; do
  tuned="$model-rb"
  [ -f "$tuned/manifest.json" ] || pr tune-repeats "$model" --dataset "$DATASET" --out "$tuned"
  points+=("$tuned")
  for dtype in int8 int4; do
    out="$tuned-$dtype"
    [ -f "$out/manifest.json" ] ||
      pr quantize "$tuned" --dataset "$DATASET" --dtype "$dtype" --out "$out" > "$out.log"
    points+=("$out")
  done
done
list=$(printf '%s,' "${points[@]}")
pr report --dataset "$DATASET" --frontier --models "${list%,}" --out "docs/results/$DATASET-frontier.md"
