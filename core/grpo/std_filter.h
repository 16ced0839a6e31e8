// The low-quality-group filter of mask-grpo.md section 5: a window of past group reward
// stds; a new group whose std is below a percentile of that window (once the window holds
// `warmup` entries) is resampled, up to a cap. A group whose std is ~0 carries no signal and
// is never trained on, filter or no filter. Every decision is counted.
//
// With a binary reward the percentile test has nothing to act on: at G = 8 a group's std is
// 0 or at least 0.354 (one success in eight), and "below the percentile" is strict, so once
// 10 % of the window has zero spread the 10th percentile is 0 and only zero-spread groups are
// resampled; before that it is 0.354 and no group lies below it. The test acts on rewards with
// graded values (ShapeWorld's `dense`, `graded`, `mixed`; CLIP-family scores).
#pragma once

#include <cstdint>
#include <deque>

#include "core/json.h"
#include "core/status.h"

namespace maskgrpo::grpo {

struct FilterOptions {
  bool enabled = true;         // off: no percentile test and no resampling
  int64_t window = 512;        // past group stds kept
  double percentile = 10.0;    // threshold = this percentile of the window (linear interpolation)
  int64_t warmup = 32;         // no percentile test before this many groups were seen
  int64_t max_resamples = 2;   // a prompt is drawn at most 1 + max_resamples times per update
  double zero_std = 1e-6;      // a std at or below this counts as zero
};
Status ValidateFilterOptions(const FilterOptions& o);

enum class FilterDecision {
  kAccept,    // train on it
  kResample,  // draw the same prompt again
  kDrop,      // give up on this prompt (zero std with the filter off, or the cap reached)
};

struct FilterCounters {
  int64_t observed = 0;  // groups seen
  int64_t accepted = 0;
  int64_t zero_std = 0;  // groups with std ~0 (a subset of the rejected)
  int64_t low_std = 0;   // groups below the percentile threshold (std > 0)
  int64_t resampled = 0;
  int64_t dropped = 0;
  Json ToJson() const;
};

class StdFilter {
 public:
  explicit StdFilter(FilterOptions options) : options_(options) {}

  // Decides for one group, whose prompt has already been resampled `resamples` times, then
  // adds its std to the window (every observed group, accepted or not, so the threshold
  // tracks what the policy produces).
  FilterDecision Decide(double group_std, int64_t resamples);

  // The current threshold; negative while warming up or when the filter is off.
  double Threshold() const;
  const FilterCounters& counters() const { return counters_; }
  const std::deque<double>& history() const { return history_; }

  // The full state (counters and window) for checkpoints; FromJson validates everything
  // before changing anything.
  Json ToJson() const;
  Status FromJson(const Json& json);

 private:
  FilterOptions options_;
  std::deque<double> history_;
  FilterCounters counters_;
};

// numpy's default (linear) percentile of `values`, p in [0, 100]; values must be non-empty.
double Percentile(std::deque<double> values, double p);

}  // namespace maskgrpo::grpo
