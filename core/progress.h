// Progress for long work: a redrawn bar when stderr is a terminal, otherwise a plain line at most
// every `plain_interval_s` seconds (logs and Slurm output files stay readable).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace loong {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, double plain_interval_s = 10.0);
  // Sets the count of finished units; `status` is shown after the bar (e.g. "loss 2.31").
  void update(int64_t done, const std::string& status = "");
  // Draws the final state and ends the line.
  void finish(const std::string& status = "");

 private:
  void draw(int64_t done, const std::string& status, bool final);
  std::string label_;
  int64_t total_;
  double plain_interval_s_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace loong
