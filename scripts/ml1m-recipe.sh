# The ML-1M teacher and student recipe, sourced by pipeline-ml1m.sh and
# pipeline-ml1m-timed.sh so that the timed run trains what the pipeline trains.

# ml1m_teacher OUT EPOCHS THREADS. d = 128 is what meets the teacher target (NDCG@10 >= 0.16);
# the d = 64 teacher reached 0.158.
ml1m_teacher() {
  npx pocketrec train --model sasrec --dataset ml-1m --out "$1" --dim 128 --max-len 50 \
    --loss full --lr 0.002 --batch 32 --epochs "$2" --patience 3 --lr-decay 0.5 --windows all \
    --threads "$3"
}

# ml1m_student TEACHER OUT RANK EPOCHS [distill options]. 2 cores (59x58:8x16) with STP t=2:
# ranks 10, 16 and 32 give item tables 62x, 39x and 19x smaller than the teacher's. (The
# d = 64 students of earlier pipelines had 3 cores; the session pipelines and the ML-1M runs
# since use 2.)
ml1m_student() {
  local teacher=$1 out=$2 rank=$3 epochs=$4
  shift 4
  npx pocketrec distill --teacher "$teacher" --out "$out" --tt-shape auto --cores 2 \
    --rank "$rank" --stp 2 --epochs "$epochs" --patience 2 --lr-decay 0.5 --lr 0.004 "$@"
}
