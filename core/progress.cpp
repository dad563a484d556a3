#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace loong {

ProgressBar::ProgressBar(std::string label, int64_t total, double plain_interval_s)
    : label_(std::move(label)),
      total_(total),
      plain_interval_s_(plain_interval_s),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(int64_t done, const std::string& status) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (drawn_ && since < (tty_ ? 0.1 : plain_interval_s_)) return;
  draw(done, status, false);
}

void ProgressBar::finish(const std::string& status) { draw(total_, status, true); }

void ProgressBar::draw(int64_t done, const std::string& status, bool final) {
  last_draw_ = std::chrono::steady_clock::now();
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const double eta = done > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %3.0f%% %.0fs<%.0fs %s\033[K", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), 100 * frac, elapsed, eta,
                 status.c_str());
    if (final) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "%s: %lld/%lld (%.0f%%) elapsed %.0fs eta %.0fs %s\n", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), 100 * frac, elapsed, eta,
                 status.c_str());
  }
  std::fflush(stderr);
}

}  // namespace loong
