#!/usr/bin/env bash
# The storefront's frontier (docs/results/storefront-frontier.md) and the model the widget
# ships picked from it: the teacher's recipe (build-storefront.sh) at smaller widths, dense
# students distilled from the teacher by its logits (one of them quantisation-aware for
# int4), the shipped tensor-train student, each also quantised to int8 and int4; then the
# best package of at most BUDGET_KIB by validation NDCG@10 is copied to models/storefront-compact.
# Everything is trained into $OUT and skipped when already there, so rerunning resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/storefront-frontier}
BUDGET_KIB=${BUDGET_KIB:-128}
THREADS=${THREADS:-1}
TEACHER="$OUT/d64"
pr() { npx pocketrec "$@"; }
recipe=(--model sasrec --dataset storefront --max-len 30 --dropout 0.1 --loss full --lr 0.005
  --batch 32 --epochs 20 --patience 3 --lr-decay 0.5 --windows all --threads "$THREADS")
mkdir -p "$OUT"
# The shipped packages in this version's format, so that they are weighed as a new one would be.
for shipped in storefront-tt storefront-markov; do
  [ -f "$OUT/$shipped/manifest.json" ] || pr repack "models/$shipped" --out "$OUT/$shipped"
done
for dim in 64 32 16; do
  [ -f "$OUT/d$dim/manifest.json" ] || pr train "${recipe[@]}" --dim "$dim" --out "$OUT/d$dim"
done
for dim in 32 16; do
  out="$OUT/d$dim-kd"
  [ -f "$out/manifest.json" ] || pr train "${recipe[@]}" --dim "$dim" --teacher "$TEACHER" --out "$out"
done
out="$OUT/d32-kd-qat-int4"
[ -f "$out/manifest.json" ] ||
  pr train "${recipe[@]}" --dim 32 --teacher "$TEACHER" --qat int4 --out "$out"
sources=("$OUT/d64" "$OUT/d32" "$OUT/d16" "$OUT/d32-kd" "$OUT/d16-kd" "$OUT/storefront-tt")
quantized=()
for source in "${sources[@]}"; do
  for dtype in int8 int4; do
    out="$OUT/$(basename "$source")-$dtype"
    [ -f "$out/manifest.json" ] ||
      pr quantize "$source" --dataset storefront --dtype "$dtype" --out "$out" > "$out.log"
    quantized+=("$out")
  done
done
out="$OUT/d32-kd-qat-int4-int4"
[ -f "$out/manifest.json" ] ||
  pr quantize "$OUT/d32-kd-qat-int4" --dataset storefront --dtype int4 --out "$out" > "$out.log"
all=$(printf '%s,' "${sources[@]}" "${quantized[@]}" "$out" "$OUT/storefront-markov")
pr report --dataset storefront --frontier --models "${all%,}" --out docs/results/storefront-frontier.md
npx tsx scripts/pick-from-frontier.ts --budget-kib "$BUDGET_KIB" --models "${all%,}" \
  --out models/storefront-compact
