// Pipeline schedules as data: the ordered list of forward/backward passes one stage runs over the
// micro-batches of a step. The executor (worker/parallel_trainer) walks the list and does the
// point-to-point exchanges; keeping the order separate makes it testable and swappable.
#pragma once
#include <string>
#include <vector>

namespace loong {

struct PipelineAction {
  enum class Op { Forward, Backward } op;
  int micro_batch;
};

// 1F1B (PipeDream-Flush, as Megatron): stage s of p first runs min(p - s - 1, m) warm-up
// forwards, then alternates one forward and one backward, then drains the remaining backwards.
// At most min(p - s, m) micro-batches are alive on stage s at once.
std::vector<PipelineAction> schedule_1f1b(int stage, int stages, int micro_batches);
int schedule_1f1b_max_in_flight(int stage, int stages, int micro_batches);
// Idle fraction of an ideal 1F1B step with equal stage times: (p - 1) / (m + p - 1).
double schedule_1f1b_bubble_fraction(int stages, int micro_batches);

std::string to_string(const std::vector<PipelineAction>& actions);  // "F0 F1 B0 F2 B1 B2"

}  // namespace loong
