#include "core/grpo/std_filter.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace maskgrpo::grpo {

Status ValidateFilterOptions(const FilterOptions& o) {
  if (o.window < 1) return InvalidArgument("filter.window must be >= 1");
  if (!(o.percentile >= 0 && o.percentile <= 100)) return InvalidArgument("filter.percentile must be in [0, 100]");
  if (o.warmup < 0) return InvalidArgument("filter.warmup must be >= 0");
  if (o.max_resamples < 0) return InvalidArgument("filter.max_resamples must be >= 0");
  if (!(o.zero_std >= 0)) return InvalidArgument("filter.zero_std must be >= 0");
  return Status::Ok();
}

double Percentile(std::deque<double> values, double p) {
  std::sort(values.begin(), values.end());
  const double pos = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

double StdFilter::Threshold() const {
  if (!options_.enabled || history_.empty() || static_cast<int64_t>(history_.size()) < options_.warmup) return -1.0;
  return Percentile(history_, options_.percentile);
}

FilterDecision StdFilter::Decide(double group_std, int64_t resamples) {
  const double threshold = Threshold();
  const bool zero = !(group_std > options_.zero_std);  // NaN counts as zero: no signal
  const bool low = !zero && threshold >= 0 && group_std < threshold;
  ++counters_.observed;
  if (zero) ++counters_.zero_std;
  if (low) ++counters_.low_std;
  FilterDecision d = FilterDecision::kAccept;
  if (zero || low) {
    if (options_.enabled && resamples < options_.max_resamples) {
      d = FilterDecision::kResample;
      ++counters_.resampled;
    } else if (zero || options_.enabled) {
      d = FilterDecision::kDrop;
      ++counters_.dropped;
    }
  }
  if (d == FilterDecision::kAccept) ++counters_.accepted;
  history_.push_back(std::isfinite(group_std) ? group_std : 0.0);
  while (static_cast<int64_t>(history_.size()) > options_.window) history_.pop_front();
  return d;
}

Json FilterCounters::ToJson() const {
  Json j;
  j["observed"] = observed;
  j["accepted"] = accepted;
  j["zero_std"] = zero_std;
  j["low_std"] = low_std;
  j["resampled"] = resampled;
  j["dropped"] = dropped;
  return j;
}

Json StdFilter::ToJson() const {
  Json j;
  j["counters"] = counters_.ToJson();
  Json::Array h;
  for (double v : history_) h.emplace_back(v);
  j["history"] = Json(std::move(h));
  return j;
}

Status StdFilter::FromJson(const Json& json) {
  const Json* c = json.Find("counters");
  const Json* h = json.Find("history");
  if (!c || !c->is_object() || !h || !h->is_array()) return DataLoss("filter state: needs 'counters' and 'history'");
  FilterCounters counters;
  std::pair<const char*, int64_t*> fields[] = {{"observed", &counters.observed}, {"accepted", &counters.accepted},
                                               {"zero_std", &counters.zero_std}, {"low_std", &counters.low_std},
                                               {"resampled", &counters.resampled}, {"dropped", &counters.dropped}};
  for (auto& [name, out] : fields) {
    const Json* v = c->Find(name);
    if (!v || !v->is_number() || v->as_number() < 0) return DataLoss(std::string("filter state: bad counter '") + name + "'");
    *out = static_cast<int64_t>(v->as_number());
  }
  std::deque<double> history;
  for (const auto& v : h->as_array()) {
    if (!v.is_number() || !std::isfinite(v.as_number()) || v.as_number() < 0) {
      return DataLoss("filter state: history holds a value that is not a finite std");
    }
    history.push_back(v.as_number());
  }
  while (static_cast<int64_t>(history.size()) > options_.window) history.pop_front();
  history_ = std::move(history);
  counters_ = counters;
  return Status::Ok();
}

}  // namespace maskgrpo::grpo
