#!/usr/bin/env bash
# Issue 23's whole path on ML-1M, on this CPU: a teacher trained by scripts/torch/train_sasrec.py
# (PyTorch, the scale-out side), imported, then a d 32 student distilled from it with int4
# quantisation-aware training (the recipe of pipeline-ml1m-distilled.sh), and the same d 32
# QAT recipe without a teacher as the control, stored as int4 and evaluated on test and
# validation beside the teacher (docs/scale-out.md, "Its distilled
# student and the frontier"). Needs Debian's python3-torch. Every step skips what is already
# there; the teacher and the student checkpoint each epoch, so rerunning resumes them.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-runs/torch-ml1m/data}
OUT=${OUT:-runs/torch-ml1m-d64}
PY_THREADS=${PY_THREADS:-1}
STUDENT_THREADS=${STUDENT_THREADS:-2}

evaluate() { # package dir, json out, split
  [ -f "$2" ] && return 0
  npx pocketrec eval "$1" --dataset ml-1m --split "$3" --json > "$2.tmp"
  mv "$2.tmp" "$2"
}

[ -f "$DATA/test.txt" ] || npx tsx scripts/torch/export-sequences.ts ml-1m "$DATA"
if [ ! -f "$OUT/teacher.safetensors" ]; then
  mkdir -p "$OUT"
  (cd scripts/torch && nice -n 5 /usr/bin/python3 -u train_sasrec.py \
    --data "../../$DATA/sequences.txt" --items "../../$DATA/items.txt" \
    --dataset ml-1m --eval-dir "../../$DATA" --dim 64 --max-len 50 --epochs 60 \
    --batch 32 --eval-every 3 --patience 2 --threads "$PY_THREADS" --time-limit 5400 \
    --checkpoint "../../$OUT/teacher.checkpoint" --out "../../$OUT/teacher.safetensors")
fi
[ -f "$OUT/teacher/manifest.json" ] ||
  npx pocketrec import --layout pocketrec "$OUT/teacher.safetensors" --dataset ml-1m --out "$OUT/teacher"
evaluate "$OUT/teacher" "$OUT/teacher.test.json" test
evaluate "$OUT/teacher" "$OUT/teacher.validation.json" validation

# The student (pipeline-ml1m-distilled.sh names it d32-kd0.5-qat-int4), and its control: the
# same recipe without the teacher (pipeline-ml1m-dense.sh's d32-qat-int4).
student="$OUT/d32-kd0.5-qat-int4"
control=runs/ml1m-dense/d32-qat-int4
OUT="$OUT" TEACHER="$OUT/teacher" DIMS=32 KD_ALPHA=0.5 QAT=int4 THREADS="$STUDENT_THREADS" \
  scripts/pipeline-ml1m-distilled.sh
OUT=runs/ml1m-dense DIMS=32 QAT=int4 THREADS="$STUDENT_THREADS" scripts/pipeline-ml1m-dense.sh
for trained in "$student" "$control"; do
  [ -f "$trained-int4/manifest.json" ] ||
    npx pocketrec quantize "$trained" --dataset ml-1m --dtype int4 --out "$trained-int4" --json > "$trained-int4.json"
  for package in "$trained" "$trained-int4"; do
    evaluate "$package" "$package.test.json" test
    evaluate "$package" "$package.validation.json" validation
  done
done
