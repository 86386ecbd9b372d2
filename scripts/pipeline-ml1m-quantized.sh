#!/usr/bin/env bash
# The quantised points of the ML-1M frontier: every ML-1M package given (default: the shipped
# ones in models/, and the dense widths of pipeline-ml1m-dense.sh once trained) written in int8
# and float16 by `pocketrec quantize`, each evaluated on test beside its float32 source
# (JSON in $OUT/<name>.eval.json). Skips what is already there, so rerunning resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ml1m-quantized}
mkdir -p "$OUT"
SOURCES=${SOURCES:-$(ls -d models/ml-1m-* runs/ml1m-dense/d* 2>/dev/null | grep -v checkpoint)}
evaluate() { # package dir, json out
  if [ ! -f "$2" ]; then
    npx pocketrec eval "$1" --dataset ml-1m --json > "$2.tmp"
    mv "$2.tmp" "$2"
  fi
}
for source in $SOURCES; do
  [ -f "$source/manifest.json" ] || continue
  name=$(basename "$source")
  evaluate "$source" "$OUT/$name.eval.json"
  for dtype in int8 float16; do
    out="$OUT/$name-$dtype"
    if [ ! -f "$out/manifest.json" ]; then
      npx pocketrec quantize "$source" --dataset ml-1m --dtype "$dtype" --out "$out" --json > "$out.json"
    fi
    evaluate "$out" "$out.eval.json"
  done
done
