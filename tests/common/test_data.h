// Helpers shared by the kernel and model tests: seeded random tensors and the finite-difference
// gradient check (for y = f(x) and L = sum(y * R) with a fixed R, dL/dx = backward(dy = R)).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace loong::testing {

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline double dot(const float* a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < b.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}
inline double dot(const std::vector<float>& a, const std::vector<float>& b) { return dot(a.data(), b); }

// Compares `analytic` (dL/dx) with central differences of `loss` on about 100 coordinates of x,
// within `tol` times the largest analytic component.
inline void expect_grad_matches(std::vector<float>& x, const std::vector<float>& analytic,
                                const std::function<double()>& loss, const char* what, float h = 1e-2f,
                                double tol = 2e-2) {
  ASSERT_EQ(x.size(), analytic.size());
  double max_abs = 1e-6;
  for (float g : analytic) max_abs = std::max(max_abs, static_cast<double>(std::fabs(g)));
  const size_t stride = std::max<size_t>(1, x.size() / 101);
  int checked = 0;
  for (size_t i = 0; i < x.size(); i += stride) {
    const float saved = x[i];
    x[i] = saved + h;
    const double lp = loss();
    x[i] = saved - h;
    const double lm = loss();
    x[i] = saved;
    const double numeric = (lp - lm) / (2.0 * h);
    EXPECT_NEAR(analytic[i], numeric, tol * max_abs) << what << " coordinate " << i;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace loong::testing
