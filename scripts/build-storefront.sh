#!/usr/bin/env bash
# The embedded default, all of it from the generated storefront (src/data/storefront.ts;
# docs/results/storefront.md): the catalogue the demo shows and the Markov baseline model
# (scripts/build-default-model.ts), a dense SASRec teacher trained on the simulated
# shoppers, a 2-core tensor-train student distilled from it and shipped as
# models/storefront-tt, and the report of all of them.
# The data is made in memory (no data directory); the runs are seeded. Models are trained
# into $OUT (runs/, not committed); a model already exported there is not trained again,
# and an interrupted run resumes from its checkpoint when the script is run again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs}
TEACHER="$OUT/storefront-teacher"
STUDENT="$OUT/storefront-tt"
pr() { npx pocketrec "$@"; }

npx tsx scripts/build-default-model.ts

# Small and quick (a few minutes a model on one core): the storefront has 3,000 items and
# histories of 14 on average, so d = 64 and the latest 30 items are plenty.
[ -f "$TEACHER/manifest.json" ] || pr train --model sasrec --dataset storefront --out "$TEACHER" \
  --dim 64 --max-len 30 --dropout 0.1 --loss full --lr 0.005 --batch 32 \
  --epochs ${TEACHER_EPOCHS:-20} --patience 3 --lr-decay 0.5 --windows all

# 2 cores (55x55 rows by 8x8 columns), rank 32, STP t=2: an item table 10.9x smaller.
[ -f "$STUDENT/manifest.json" ] || pr distill --teacher "$TEACHER" --out "$STUDENT" \
  --tt-shape auto --cores 2 --rank 32 --stp 2 --lr 0.005 --epochs ${STUDENT_EPOCHS:-16} --patience 2

rm -rf models/storefront-tt
cp -r "$STUDENT" models/storefront-tt
pr verify models/storefront-tt
pr report --dataset storefront --models "$TEACHER,models/storefront-tt" --out "$OUT/storefront-report.md"

# The second stage: a DeepFM ranker trained on the context storefront's impression log,
# pruned by Shaver and shipped as models/storefront-ranker (docs/results/storefront.md).
OUT="$OUT/two-stage" scripts/pipeline-storefront-two-stage.sh
