#!/bin/sh
# run_resume.sh CHECK_EXE REF_DIR RUN_DIR: trains 3 steps under TP=2 and checkpoints, resumes from
# that checkpoint under PP=2 for steps 4-5, and compares with the single-process reference.
set -e
check=$1 ref=$2 run=$3
mpirun="$(dirname "$0")/../../scripts/mpirun-local"
rm -rf "$run"
"$mpirun" -np 3 "$check" --tp 2 --stop-at 3 --save-at 3 --out "$run/save" </dev/null
test -f "$run/save/checkpoint/DONE"
"$mpirun" -np 3 "$check" --pp 2 --resume "$run/save/checkpoint" --out "$run/resume" </dev/null
"$check" --compare "$ref" "$run/resume"
