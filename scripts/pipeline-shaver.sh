#!/usr/bin/env bash
# The Shaver pipeline of docs/results/<dataset>.md for one CTR data set: the dense DeepFM,
# Shapley estimates with codebook and zero fill, every pruning method at every sparsity
# without and with fine-tuning, the shipped progressive package, and the report. Every step
# is skipped when its output is there, and `pocketrec shapley` resumes from its running
# sums, so rerunning the script continues where it stopped.
#
#   scripts/pipeline-shaver.sh frappe    # DENSE, FM, DCNV2, DIM, RUNS, SPLIT, THREADS, FINETUNE override
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: pipeline-shaver.sh <ctr data set>}
RUNS=${RUNS:-runs/shaver-$DATASET}
DENSE=${DENSE:-models/$DATASET-deepfm}
FM=${FM:-runs/$DATASET-fm}
DCNV2=${DCNV2:-runs/$DATASET-dcnv2}
DIM=${DIM:-10}
SPLIT=${SPLIT:-train}
THREADS=${THREADS:-2}
FINETUNE=${FINETUNE:-2}
SPARSITY=0.5,0.8,0.95,0.99
CODEBOOK=${CODEBOOK:-$RUNS/shapley-codebook}
ZERO=${ZERO:-$RUNS/shapley-zero}
mkdir -p "$RUNS"

# The dense models: the recipe of docs/training.md for frappe (BARS Frappe_x1's where it
# applies), DCNv2 with DeepFM's; FM, with no tower to regularise, a lighter L2 and a faster rate.
# Only the DeepFM is pruned; FM and DCNv2 are the report's other dense rows.
train() { # model, directory, then options after the shared ones
  local model=$1 dir=$2
  shift 2
  [ -f "$dir/manifest.json" ] ||
    npx pocketrec train --model "$model" --dataset "$DATASET" --out "$dir" --dim "$DIM" \
      --batch 4096 --epochs 100 --lr-decay 0.1 --threads "$THREADS" "$@"
}
DEEP=(--norm batch --dropout 0.2 --embedding-l2 0.01 --patience 2)
train deepfm "$DENSE" "${DEEP[@]}"
train dcnv2 "$DCNV2" "${DEEP[@]}"
train fm "$FM" --embedding-l2 0.001 --lr 0.005 --patience 3

estimate() { # fill, directory
  [ -f "$2/shapley.json" ] ||
    npx pocketrec shapley "$DENSE" --dataset "$DATASET" --out "$2" --fill "$1" --split "$SPLIT" \
      --threads "$THREADS"
}
estimate codebook "$CODEBOOK"
estimate zero "$ZERO"

prune() { # method, name, then prune options
  local method=$1 name=$2
  shift 2
  [ -f "$RUNS/$name-s99/manifest.json" ] ||
    npx pocketrec prune "$DENSE" --method "$method" --sparsity "$SPARSITY" --out "$RUNS/$name" \
      --threads "$THREADS" "$@"
}
for tuned in 0 "$FINETUNE"; do
  suffix=$([ "$tuned" = 0 ] && echo "" || echo "-ft$tuned")
  prune shaver "shaver$suffix" --shapley "$CODEBOOK" --finetune "$tuned"
  prune shaver-zero "shaver-zero$suffix" --shapley "$ZERO" --finetune "$tuned"
  prune magnitude "magnitude$suffix" --finetune "$tuned"
  prune random "random$suffix" --finetune "$tuned"
done

# Shipped: Shaver with the codebook at 80% sparsity, no fine-tuning, in the progressive
# layout, whose prefixes are exactly the 95% and 99% packages.
SHIPPED=${SHIPPED:-models/$DATASET-deepfm-shaver80}
[ -f "$SHIPPED/manifest.json" ] ||
  npx pocketrec prune "$DENSE" --method shaver --shapley "$CODEBOOK" --sparsity 0.8 \
    --layout progressive --prefix-sparsity 0.95,0.99 --out "$SHIPPED"

models=$FM,$DENSE,$DCNV2
for name in shaver shaver-zero magnitude random; do
  for suffix in "" "-ft$FINETUNE"; do
    for s in 50 80 95 99; do models="$models,$RUNS/$name$suffix-s$s"; done
  done
done
npx pocketrec report --dataset "$DATASET" --out "docs/results/$DATASET.md" \
  --models "$models,$SHIPPED"
