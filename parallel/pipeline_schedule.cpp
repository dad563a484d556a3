#include "parallel/pipeline_schedule.h"

#include <algorithm>

namespace loong {

std::vector<PipelineAction> schedule_1f1b(int stage, int stages, int micro_batches) {
  const int warmup = std::min(stages - stage - 1, micro_batches);
  std::vector<PipelineAction> out;
  int next_f = 0, next_b = 0;
  for (int i = 0; i < warmup; ++i) out.push_back({PipelineAction::Op::Forward, next_f++});
  while (next_f < micro_batches) {
    out.push_back({PipelineAction::Op::Forward, next_f++});
    out.push_back({PipelineAction::Op::Backward, next_b++});
  }
  while (next_b < micro_batches) out.push_back({PipelineAction::Op::Backward, next_b++});
  return out;
}

int schedule_1f1b_max_in_flight(int stage, int stages, int micro_batches) {
  return std::min(stages - stage, micro_batches);
}

double schedule_1f1b_bubble_fraction(int stages, int micro_batches) {
  return static_cast<double>(stages - 1) / static_cast<double>(micro_batches + stages - 1);
}

std::string to_string(const std::vector<PipelineAction>& actions) {
  std::string s;
  for (const auto& a : actions) {
    if (!s.empty()) s += ' ';
    s += (a.op == PipelineAction::Op::Forward ? 'F' : 'B') + std::to_string(a.micro_batch);
  }
  return s;
}

}  // namespace loong
