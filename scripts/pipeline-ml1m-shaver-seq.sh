#!/usr/bin/env bash
# Shaver on an ML-1M SASRec's item table (docs/training.md, "Shaver on an ML-1M SASRec's
# item table"): the Shapley estimate on each user's last training step (shapley's default
# for a sequence model, so validation picks among pruned packages as fairly as among dense
# ones), Shaver's packages at each sparsity (float32 kept values, then int8 values with the
# encoder int8 too) and the test figures. Every step is skipped when its output is there and
# `pocketrec shapley` resumes from its running sums, so rerunning continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=${SOURCE:-runs/ml1m-dense/d24}
OUT=${OUT:-runs/shaver-seq}
NAME=${NAME:-$(basename "$SOURCE")-train}
THREADS=${THREADS:-1}
SPARSITY=${SPARSITY:-0.5,0.75}
VALUES="$OUT/$NAME-shapley"
pr() { npx pocketrec "$@"; }
evaluate() { # package: its test figures, once
  [ -f "$1.eval.json" ] || pr eval "$1" --dataset ml-1m --json > "$1.eval.json"
}
mkdir -p "$OUT"
pr shapley "$SOURCE" --dataset ml-1m --split train --threads "$THREADS" --out "$VALUES"
for sparsity in ${SPARSITY//,/ }; do
  pct=$(awk "BEGIN { print int($sparsity * 100 + 0.5) }")
  pruned="$OUT/$NAME-shaver-s$pct"
  prune() { # out, then options
    local out=$1
    shift
    [ -f "$out/manifest.json" ] || pr prune "$SOURCE" --method shaver --shapley "$VALUES" \
      --sparsity "$sparsity" --out "$out" "$@"
  }
  prune "$pruned"
  prune "$pruned-v8" --dtype int8
  [ -f "$pruned-v8-int8/manifest.json" ] || pr quantize "$pruned-v8" --dataset ml-1m \
    --dtype int8 --out "$pruned-v8-int8" > "$pruned-v8-int8.log"
  for pkg in "$pruned" "$pruned-v8" "$pruned-v8-int8"; do evaluate "$pkg"; done
done
