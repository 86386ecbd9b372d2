#!/usr/bin/env bash
# Two-stage recommendations on the generated storefront (docs/results/storefront.md, "Two
# stages"): in a storefront whose shoppers' behaviour depends on their context
# (storefront-context) and in one where it does not (storefront-flat), a next-item model
# retrieves, a DeepFM ranker trained on the impression log (<world>-clicks) re-ranks, with
# the context fields and, in the context world, without them (-clicks-items). The ranker
# shipped beside the storefront models is the context world's, pruned by Shaver.
# Everything is seeded and skipped when already there, so rerunning resumes.
#   scripts/pipeline-storefront-two-stage.sh        # OUT, THREADS override
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/two-stage}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
pr() { npx pocketrec "$@"; }

retrieval() { # world
  local out="$OUT/$1-sasrec"
  # The storefront teacher's recipe (scripts/build-storefront.sh) at d = 32.
  [ -f "$out/manifest.json" ] || pr train --model sasrec --dataset "storefront-$1" --out "$out" \
    --dim 32 --max-len 30 --dropout 0.1 --loss full --lr 0.005 --batch 32 \
    --epochs ${RETRIEVAL_EPOCHS:-20} --patience 3 --lr-decay 0.5 --windows all --threads "$THREADS"
}
ranker() { # world, click data set suffix, name
  local out="$OUT/$3"
  [ -f "$out/manifest.json" ] || pr train --model deepfm --dataset "storefront-$1-clicks$2" \
    --out "$out" --dim 8 --batch 4096 --epochs ${RANKER_EPOCHS:-30} --lr-decay 0.1 \
    --norm batch --dropout 0.1 --embedding-l2 0.001 --patience 2 --threads "$THREADS"
  [ -f "$out-ranker/manifest.json" ] || pr ranker "$out" --retrieval "$OUT/$1-sasrec" \
    --dataset "storefront-$1" --out "$out-ranker" --json > "$out-ranker.json"
}

retrieval context
ranker context "" context-deepfm
ranker context -items context-deepfm-items
retrieval flat
ranker flat "" flat-deepfm

# Shipped: the context ranker pruned by Shaver (codebook fill) to 80% sparsity.
SHAPLEY="$OUT/context-shapley"
[ -f "$SHAPLEY/shapley.json" ] || pr shapley "$OUT/context-deepfm" \
  --dataset storefront-context-clicks --out "$SHAPLEY" --fill codebook --threads "$THREADS"
PRUNED="$OUT/context-deepfm-shaver80"
[ -f "$PRUNED/manifest.json" ] || pr prune "$OUT/context-deepfm" --method shaver \
  --shapley "$SHAPLEY" --sparsity 0.8 --out "$PRUNED" --threads "$THREADS"
[ -f "$PRUNED-ranker/manifest.json" ] || pr ranker "$PRUNED" --retrieval "$OUT/context-sasrec" \
  --dataset storefront-context --out "$PRUNED-ranker" --json > "$PRUNED-ranker.json"

# The same pruned ranker fitted against the model the storefront page ships (trained on the
# storefront without context, same catalogue): what the demo and storefront.html run.
SHIPPED=${SHIPPED:-models/storefront-ranker}
[ -f "$SHIPPED/manifest.json" ] || pr ranker "$PRUNED" --retrieval models/storefront-compact \
  --dataset storefront-context --out "$SHIPPED" --json > "$OUT/shipped-ranker.json"
pr verify "$SHIPPED"
