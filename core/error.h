// Typed errors. Every message names the input it is about (file, key, field, rank), so a user
// can act on it without a debugger. Nothing in the library aborts on user input; it throws one
// of these and the CLI turns it into a message and a non-zero exit status.
#pragma once
#include <stdexcept>
#include <string>

namespace loong {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration value that is missing, of the wrong type, or inconsistent with another.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A file whose bytes do not follow its format (safetensors, checkpoint, record).
class FormatError : public Error {
 public:
  using Error::Error;
};

// Data given to a computation that it cannot accept (token id outside the vocabulary, ...).
class InputError : public Error {
 public:
  using Error::Error;
};

// The operating system refused a read, write, rename or allocation.
class IoError : public Error {
 public:
  using Error::Error;
};

// A job that needs more of the machine than it has (memory for its weights or frames); the
// message gives the estimate and what the machine offers.
class ResourceError : public Error {
 public:
  using Error::Error;
};

// Training stopped because too many consecutive steps had non-finite loss or gradients; the
// last committed checkpoint is intact. `loong train` exits with kExitNonFinite for it.
class DivergedError : public Error {
 public:
  using Error::Error;
};

// Exit statuses of `loong` besides 0 and 1 (documented in docs/operations.md). 2 is a malformed
// command line (apps/main.cpp) and, for `loong ingest`, "finished, some lines skipped".
inline constexpr int kExitCheckpointedOnSignal = 3;  // checkpointed on SIGTERM/SIGUSR1: requeue
// A worker stopped answering or a work unit ran past its deadline; the last committed checkpoint
// is intact and the Slurm scripts requeue (coordinator/worker_liveness.h).
inline constexpr int kExitWorkerSilent = 4;
inline constexpr int kExitNonFinite = 5;  // diverged: do not requeue, fix the config

}  // namespace loong
