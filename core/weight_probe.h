// Verified weight sync: a fingerprint of what a model computes, made by the learner when it
// publishes a version and checked by a worker after it applied that version's weights.
// The CRC-32C of each tensor proves that bytes arrived intact; the probe proves that they
// were applied as the learner meant them (right tensors, layout and dtype): the worker
// recomputes the image log-probabilities of one fixed masked state and compares them with
// the learner's within a tolerance for the dtypes involved. A worker whose probe fails does
// not sample with those weights.
#pragma once

#include <ATen/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace maskgrpo {

class MaskedTransformer;

struct WeightProbe {
  std::vector<int64_t> text_ids;       // [text_len] token ids (all valid, no pads)
  std::vector<int64_t> codes;          // [image_len] image codes, -1 = masked
  std::vector<int64_t> positions;      // probed image positions (masked ones)
  std::vector<int64_t> tokens;         // the code scored at each probed position
  std::vector<double> expected_logp;   // log p(token | state) under the publishing model
  double tolerance = 0;                // largest |difference| accepted
};

// Largest |log-prob difference| between two correct copies of a model in this dtype, run
// with other thread counts, batch shapes or devices: float32/float64 5e-3, bfloat16 and
// float16 0.25. Swapped or misplaced tensors move log-probabilities by far more.
double WeightProbeTolerance(at::ScalarType dtype);

// Builds the probe from `seed` (random prompt ids, about half the image masked, up to 64
// probed positions) and records `model`'s log-probabilities. No gradients.
StatusOr<WeightProbe> MakeWeightProbe(const MaskedTransformer& model, uint64_t seed);

// `model`'s log-probabilities for the probe's state, in the probe's order. A probe that
// does not fit the model's shape (lengths, ids out of range) is InvalidArgument.
StatusOr<std::vector<double>> ScoreWeightProbe(const MaskedTransformer& model, const WeightProbe& probe);

// OK when every log-probability is within max(probe.tolerance, the model's own dtype
// tolerance) of the expected one; DataLoss naming the worst position otherwise.
Status CheckWeightProbe(const MaskedTransformer& model, const WeightProbe& probe);

}  // namespace maskgrpo
