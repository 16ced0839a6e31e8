// The unmasking schedule of Show-o / MaskGIT used by the sampler (mask-grpo.md section 2).
// Plain arithmetic, no tensors: shared by the sampler, the replay and the tests.
#pragma once

#include <cstdint>

namespace maskgrpo {

// Number of positions left masked after step t (0-based) of T, given `masked_before`
// positions masked before the step: clamp(floor(N cos(pi/2 (t+1)/T)), 1, masked_before - 1),
// and 0 at the last step (everything is revealed).
int64_t MaskedAfterStep(int64_t num_positions, int64_t steps, int64_t t, int64_t masked_before);

// Show-o's compounding Gumbel temperature: tau_t = tau_{t-1} * (1 - (t+1)/T), tau_{-1} = tau0.
double GumbelTemperature(double tau0, int64_t steps, int64_t t);

}  // namespace maskgrpo
