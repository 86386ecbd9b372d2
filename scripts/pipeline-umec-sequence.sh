#!/usr/bin/env bash
# The encoder cuts of docs/results/<dataset>-umec.md for one next-item data set: the dense
# teacher and the tensor-train student, each cut by magnitude (group norm) and by UMEC to each
# encoder FLOPs budget, fine-tuned alike, then the report of the sources and their cuts. Every
# step is skipped when its package is there, and `pocketrec umec` resumes from its search and
# fine-tuning checkpoints, so rerunning the script continues where it stopped.
#
#   scripts/pipeline-umec-sequence.sh ml-1m    # SOURCES, RUNS, THREADS, BUDGETS, SEARCH, FINETUNE override
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: pipeline-umec-sequence.sh <next-item data set>}
RUNS=${RUNS:-runs/umec-${DATASET//-/}}
SOURCES=${SOURCES:-models/$DATASET-teacher-d128 models/$DATASET-d128-tt2-r16}
THREADS=${THREADS:-1}
BUDGETS=${BUDGETS:-0.5 0.25}
# A frappe-sized step count again (docs/training.md, "UMEC on frappe"): s and z move faster
# than the public code's rates would in the few thousand steps of three ML-1M epochs.
SEARCH=${SEARCH:---search-epochs 3 --s-lr 1 --z-lr 20}
# The students were trained at 0.004 decaying by half an epoch; a cut one restarts at 5e-4.
FINETUNE=${FINETUNE:---finetune 5 --finetune-lr 0.0005}
mkdir -p "$RUNS"

models=""
for source in $SOURCES; do
  models="$models,$source"
  name=$(basename "$source")
  for budget in $BUDGETS; do
    for method in magnitude umec; do
      out="$RUNS/${name#"$DATASET"-}-$method-b$budget"
      search=$([ "$method" = umec ] && echo "$SEARCH" || true)
      # shellcheck disable=SC2086 # SEARCH and FINETUNE are lists of options
      [ -f "$out/manifest.json" ] ||
        npx pocketrec umec "$source" --dataset "$DATASET" --flops-budget "$budget" \
          --method "$method" $search $FINETUNE --threads "$THREADS" --out "$out"
      models="$models,$out"
    done
  done
done
npx pocketrec report --dataset "$DATASET" --out "docs/results/$DATASET-umec.md" --models "${models#,}"
