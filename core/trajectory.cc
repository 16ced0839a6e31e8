#include "core/trajectory.h"

#include "core/torch_api.h"

namespace maskgrpo {
namespace {

// Applies `op` to every recorded tensor of `t`, keeping the unrecorded ones undefined.
template <typename Op>
TrajectoryBatch MapRecorded(const TrajectoryBatch& t, Op op) {
  auto apply = [&](const at::Tensor& x) { return x.defined() ? op(x) : at::Tensor(); };
  TrajectoryBatch out;
  out.steps = t.steps;
  out.tokens = apply(t.tokens);
  out.reveal_step = apply(t.reveal_step);
  out.min_revealed_prob = apply(t.min_revealed_prob);
  out.logp_candidate1 = apply(t.logp_candidate1);
  out.logp_candidate2 = apply(t.logp_candidate2);
  out.logp_full = apply(t.logp_full);
  return out;
}

}  // namespace

PromptBatch PromptBatch::Rows(int64_t begin, int64_t end) const {
  return PromptBatch{text_ids.slice(0, begin, end), text_valid.slice(0, begin, end)};
}

PromptBatch PromptBatch::Select(const at::Tensor& index) const {
  return PromptBatch{text_ids.index_select(0, index), text_valid.index_select(0, index)};
}

PromptBatch PromptBatch::To(const c10::Device& device) const {
  return PromptBatch{text_ids.to(device), text_valid.to(device)};
}

TrajectoryBatch TrajectoryBatch::Rows(int64_t begin, int64_t end) const {
  return MapRecorded(*this, [&](const at::Tensor& x) { return x.slice(0, begin, end); });
}

TrajectoryBatch TrajectoryBatch::Select(const at::Tensor& index) const {
  return MapRecorded(*this, [&](const at::Tensor& x) { return x.index_select(0, index); });
}

TrajectoryBatch TrajectoryBatch::To(const c10::Device& device) const {
  return MapRecorded(*this, [&](const at::Tensor& x) { return x.to(device); });
}

}  // namespace maskgrpo
