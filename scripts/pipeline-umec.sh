#!/usr/bin/env bash
# The UMEC pipeline of docs/results/<dataset>-umec.md for one CTR data set: the dense DeepFM
# and a DLRM (trained here if missing, with the DeepFM's recipe of docs/training.md) cut to
# each FLOPs budget by UMEC, magnitude (group norm) and Group Lasso, each search and
# fine-tuning alike, then the report. Every step is skipped when its package is there, and
# `pocketrec umec` and `train` resume from their checkpoints, so rerunning the script
# continues where it stopped.
#
#   scripts/pipeline-umec.sh frappe    # DEEPFM, DLRM, DIM, RUNS, THREADS, BUDGETS, SEARCH, SHIPPED override
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: pipeline-umec.sh <ctr data set>}
RUNS=${RUNS:-runs/umec-$DATASET}
DEEPFM=${DEEPFM:-models/$DATASET-deepfm}
DLRM=${DLRM:-runs/$DATASET-dlrm}
DIM=${DIM:-10}
THREADS=${THREADS:-2}
BUDGETS=${BUDGETS:-0.5 0.35 0.2 0.1}
# The public code's minimax takes about a million steps on Criteo at batch 128; these runs
# take about a thousand, so s and z move faster (docs/training.md, "UMEC on frappe").
SEARCH=${SEARCH:---search-epochs 3 --batch 512 --s-lr 1 --z-lr 20 --finetune 3}
mkdir -p "$RUNS"

[ -f "$DLRM/manifest.json" ] ||
  npx pocketrec train --model dlrm --dataset "$DATASET" --out "$DLRM" --dim "$DIM" --norm batch \
    --dropout 0.2 --embedding-l2 0.01 --batch 4096 --epochs 100 --patience 2 --lr-decay 0.1 \
    --threads "$THREADS"

models=$DEEPFM,$DLRM
for dense in "$DEEPFM" "$DLRM"; do
  for budget in $BUDGETS; do
    for method in magnitude group-lasso umec; do
      out="$RUNS/$(basename "$dense")-$method-b$budget"
      # shellcheck disable=SC2086 # SEARCH is a list of options
      [ -f "$out/manifest.json" ] ||
        npx pocketrec umec "$dense" --dataset "$DATASET" --flops-budget "$budget" \
          --method "$method" $SEARCH --threads "$THREADS" --out "$out"
      models="$models,$out"
    done
  done
done
# Shipped (frappe): the DeepFM by UMEC at FLOPs budget 0.5, fine-tuned, exported smaller.
SHIPPED=${SHIPPED-$([ "$DATASET" = frappe ] && echo models/frappe-deepfm-umec50 || true)}
if [ -n "$SHIPPED" ]; then
  # shellcheck disable=SC2086 # SEARCH is a list of options
  [ -f "$SHIPPED/manifest.json" ] ||
    npx pocketrec umec "$DEEPFM" --dataset "$DATASET" --flops-budget 0.5 --method umec $SEARCH \
      --threads "$THREADS" --out "$SHIPPED"
  models="$models,$SHIPPED"
fi
npx pocketrec report --dataset "$DATASET" --out "docs/results/$DATASET-umec.md" --models "$models"
