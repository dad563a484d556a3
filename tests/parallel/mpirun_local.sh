#!/bin/sh
# mpirun for tests: one machine, loopback only, oversubscribed (2 cores here), allowed as root,
# ranks yield when idle so that oversubscription does not starve the ranks doing work.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1
# Open MPI keeps allocations to the end of the process; leak checks belong to the non-MPI tests.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
exec mpirun --bind-to none --timeout 500 "$@"
