#!/bin/sh
# run_case.sh CHECK_EXE REF_DIR RUN_DIR NP [ARGS...]: trains under mpirun -np NP with ARGS into
# RUN_DIR, then compares RUN_DIR with the single-process reference REF_DIR.
set -e
check=$1 ref=$2 run=$3 np=$4
shift 4
rm -rf "$run"
"$(dirname "$0")/../../scripts/mpirun-local" -np "$np" "$check" --out "$run" "$@" </dev/null
"$check" --compare "$ref" "$run"
