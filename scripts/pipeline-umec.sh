#!/usr/bin/env bash
# The UMEC pipeline of docs/results/<dataset>-umec.md for one CTR data set: the dense DeepFM
# cut to each FLOPs budget by UMEC, magnitude (group norm) and Group Lasso, each search and
# fine-tuning alike, then the report. Every step is skipped when its package is there, and
# `pocketrec umec` resumes its search and fine-tuning from their checkpoints, so rerunning
# the script continues where it stopped.
#
#   scripts/pipeline-umec.sh frappe    # DENSE, RUNS, THREADS, BUDGETS, SEARCH override
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: pipeline-umec.sh <ctr data set>}
RUNS=${RUNS:-runs/umec-$DATASET}
DENSE=${DENSE:-models/$DATASET-deepfm}
THREADS=${THREADS:-2}
BUDGETS=${BUDGETS:-0.5 0.35 0.2 0.1}
# The public code's minimax takes about a million steps on Criteo at batch 128; these runs
# take a few hundred a search epoch, so s and z move faster (docs/results/<dataset>-umec.md).
SEARCH=${SEARCH:---search-epochs 3 --batch 1024 --s-lr 1 --z-lr 20 --finetune 3}
mkdir -p "$RUNS"

models=$DENSE
for budget in $BUDGETS; do
  for method in magnitude group-lasso umec; do
    out="$RUNS/$method-b$budget"
    # shellcheck disable=SC2086 # SEARCH is a list of options
    [ -f "$out/manifest.json" ] ||
      npx pocketrec umec "$DENSE" --dataset "$DATASET" --flops-budget "$budget" --method "$method" \
        $SEARCH --threads "$THREADS" --out "$out"
    models="$models,$out"
  done
done
npx pocketrec report --dataset "$DATASET" --out "docs/results/$DATASET-umec.md" --models "$models"
