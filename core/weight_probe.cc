#include "core/weight_probe.h"

#include "core/torch_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/transformer.h"
#include "core/transition.h"

namespace maskgrpo {
namespace {

constexpr int64_t kMaxProbedPositions = 64;

Status CheckFits(const ModelConfig& c, const WeightProbe& p) {
  if (static_cast<int64_t>(p.text_ids.size()) != c.text_len) {
    return InvalidArgument("weight probe: " + std::to_string(p.text_ids.size()) + " text ids for a model with text_len " +
                           std::to_string(c.text_len));
  }
  if (static_cast<int64_t>(p.codes.size()) != c.image_len) {
    return InvalidArgument("weight probe: " + std::to_string(p.codes.size()) + " image codes for a model with image_len " +
                           std::to_string(c.image_len));
  }
  if (p.positions.empty() || p.positions.size() != p.tokens.size() || p.positions.size() != p.expected_logp.size()) {
    return InvalidArgument("weight probe: positions, tokens and expected_logp must have the same, non-zero length");
  }
  if (!(p.tolerance >= 0) || !std::isfinite(p.tolerance)) return InvalidArgument("weight probe: tolerance must be >= 0");
  for (int64_t id : p.text_ids) {
    if (id < 0 || id >= c.vocab_size) return InvalidArgument("weight probe: text id " + std::to_string(id) + " out of range");
  }
  for (int64_t code : p.codes) {
    if (code < -1 || code >= c.num_image_codes) {
      return InvalidArgument("weight probe: image code " + std::to_string(code) + " out of range");
    }
  }
  for (size_t i = 0; i < p.positions.size(); ++i) {
    if (p.positions[i] < 0 || p.positions[i] >= c.image_len) {
      return InvalidArgument("weight probe: position " + std::to_string(p.positions[i]) + " out of range");
    }
    if (p.tokens[i] < 0 || p.tokens[i] >= c.num_image_codes) {
      return InvalidArgument("weight probe: token " + std::to_string(p.tokens[i]) + " out of range");
    }
    if (!std::isfinite(p.expected_logp[i])) return InvalidArgument("weight probe: expected_logp is not finite");
  }
  return Status::Ok();
}

}  // namespace

double WeightProbeTolerance(at::ScalarType dtype) {
  return (dtype == at::kFloat || dtype == at::kDouble) ? 5e-3 : 0.25;
}

StatusOr<WeightProbe> MakeWeightProbe(const MaskedTransformer& model, uint64_t seed) {
  const ModelConfig& c = model.config();
  std::mt19937_64 rng(seed ^ 0x5eedf00dULL);
  WeightProbe p;
  // Any id below the image codes is a text or special token with an embedding row.
  const int64_t text_vocab = std::max<int64_t>(1, std::min(c.image_token_offset, c.vocab_size));
  for (int64_t i = 0; i < c.text_len; ++i) p.text_ids.push_back(static_cast<int64_t>(rng() % text_vocab));
  std::vector<int64_t> masked;
  for (int64_t i = 0; i < c.image_len; ++i) {
    const bool mask = (rng() & 1) != 0 || i == 0;  // at least one masked position
    p.codes.push_back(mask ? -1 : static_cast<int64_t>(rng() % c.num_image_codes));
    if (mask) masked.push_back(i);
  }
  std::shuffle(masked.begin(), masked.end(), rng);
  masked.resize(std::min<size_t>(masked.size(), kMaxProbedPositions));
  std::sort(masked.begin(), masked.end());
  p.positions = masked;
  for (size_t i = 0; i < masked.size(); ++i) p.tokens.push_back(static_cast<int64_t>(rng() % c.num_image_codes));
  p.expected_logp.assign(masked.size(), 0.0);
  p.tolerance = WeightProbeTolerance(model.dtype());
  ASSIGN_OR_RETURN(p.expected_logp, ScoreWeightProbe(model, p));
  return p;
}

StatusOr<std::vector<double>> ScoreWeightProbe(const MaskedTransformer& model, const WeightProbe& probe) {
  RETURN_IF_ERROR(CheckFits(model.config(), probe));
  torch::NoGradGuard no_grad;
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  PromptBatch prompt;
  prompt.text_ids = torch::tensor(probe.text_ids, i64).unsqueeze(0);
  prompt.text_valid = torch::ones({1, model.config().text_len}, torch::TensorOptions().dtype(torch::kBool));
  auto codes = torch::tensor(probe.codes, i64).unsqueeze(0);
  // guidance 0: the prompt itself is the (unused) unconditional twin.
  auto logp = ImageLogProbs(model, prompt, prompt, codes, /*guidance=*/0.0)[0];
  auto picked = logp.index({torch::tensor(probe.positions, i64).to(logp.device()),
                            torch::tensor(probe.tokens, i64).to(logp.device())})
                    .to(torch::kCPU, torch::kDouble)
                    .contiguous();
  const double* v = picked.data_ptr<double>();
  return std::vector<double>(v, v + picked.numel());
}

Status CheckWeightProbe(const MaskedTransformer& model, const WeightProbe& probe) {
  ASSIGN_OR_RETURN(std::vector<double> got, ScoreWeightProbe(model, probe));
  const double tolerance = std::max(probe.tolerance, WeightProbeTolerance(model.dtype()));
  size_t worst = 0;
  double worst_diff = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::isfinite(got[i]) ? std::abs(got[i] - probe.expected_logp[i]) : INFINITY;
    if (d > worst_diff) {
      worst_diff = d;
      worst = i;
    }
  }
  if (worst_diff <= tolerance) return Status::Ok();
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "weight probe mismatch: log-prob %.6g here against %.6g at the learner (|diff| %.3g > tolerance %.3g) "
                "at image position %lld of %zu probed",
                got[worst], probe.expected_logp[worst], worst_diff, tolerance,
                static_cast<long long>(probe.positions[worst]), got.size());
  return DataLoss(buf);
}

}  // namespace maskgrpo
