#include "core/trajectory.h"

#include "core/torch_api.h"

namespace maskgrpo {
namespace {

// Applies `pick` to every recorded tensor of `t`, keeping the unrecorded ones undefined.
template <typename Pick>
TrajectoryBatch PickTrajectoryRows(const TrajectoryBatch& t, Pick pick) {
  auto apply = [&](const at::Tensor& x) { return x.defined() ? pick(x) : at::Tensor(); };
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

TrajectoryBatch TrajectoryBatch::Rows(int64_t begin, int64_t end) const {
  return PickTrajectoryRows(*this, [&](const at::Tensor& x) { return x.slice(0, begin, end); });
}

TrajectoryBatch TrajectoryBatch::Select(const at::Tensor& index) const {
  return PickTrajectoryRows(*this, [&](const at::Tensor& x) { return x.index_select(0, index); });
}

}  // namespace maskgrpo
