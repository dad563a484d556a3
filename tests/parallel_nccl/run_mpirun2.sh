#!/bin/sh
# run_mpirun2.sh MPIRUN_LOCAL TEST_EXE: runs the NCCL communicator tests on 2 MPI ranks and says what
# ran. Exit status: the test binary's when it failed; 77 (CTest SKIP_RETURN_CODE) when no
# NcclCommunicator case ran on either rank (every one skipped: no CUDA device), so that CTest
# reports the test skipped, not passed; 0 when cases ran and passed.
mpirun=$1 exe=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$mpirun" -np 2 "$exe" --gtest_color=no </dev/null >"$log" 2>&1
rc=$?
cat "$log"
# gtest prints one line per case and rank: "[       OK ] Suite.Case (N ms)" or "[  SKIPPED ] Suite.Case (N ms)".
ran=$(grep -c '^\[       OK \] NcclCommunicator\.' "$log")
skipped=$(grep -c '^\[  SKIPPED \] NcclCommunicator\.' "$log")
echo "run_mpirun2: NcclCommunicator cases over both ranks: $ran passed, $skipped skipped (exit $rc)"
if [ "$rc" -ne 0 ]; then
  exit "$rc"
fi
if [ "$ran" -eq 0 ]; then
  echo "run_mpirun2: SKIPPED: no NcclCommunicator case ran ($skipped skipped)"
  exit 77
fi
exit 0
