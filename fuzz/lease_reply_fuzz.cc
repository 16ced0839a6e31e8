// A LeaseReply built from the fuzz bytes (protobuf wire format) goes through the rollout
// worker's own path: ReadLeaseReply (what RolloutWorker::Sample calls first), then, for replies
// small enough to sample quickly, grpo::SampleGroups on the shipped ShapeWorld base model with
// the settings read, as Sample does. The worker asks for at most 4 leases.
// Oracle: a rejected reply is an InvalidArgument with a message; an accepted one is sampled
// without error unless the world refuses a prompt's words, and yields one group of group_size
// finite trajectories per lease, every token a codebook index and every step recorded.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/grpo/rollout.h"
#include "core/world/registry.h"
#include "fuzz/fuzz_util.h"
#include "rollout_worker/worker.h"

namespace {

using namespace maskgrpo;

constexpr int kMaxLeases = 4;
// Sampling costs milliseconds per image and step; larger accepted replies are only read.
constexpr int64_t kMaxSampledImages = 16;
constexpr int64_t kMaxSampledSteps = 4;

struct Harness {
  std::unique_ptr<World> world;
  std::unique_ptr<MaskedTransformer> model;
};

Harness& GetHarness() {
  static Harness* h = [] {
    auto* made = new Harness;
    auto world = CreateWorld(WorldOptions{});
    FUZZ_CHECK(world.ok(), world.status().ToString());
    made->world = std::move(*world);
    auto model = made->world->LoadModel(std::string(MASKGRPO_SOURCE_DIR) + "/models/shapeworld_base.safetensors",
                                        DeviceOptions{});
    FUZZ_CHECK(model.ok(), model.status().ToString());
    made->model = std::move(*model);
    return made;
  }();
  return *h;
}

bool AllFinite(const at::Tensor& t) { return !t.defined() || at::isfinite(t).all().item<bool>(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = GetHarness();
  v1::LeaseReply reply;
  if (!reply.ParseFromArray(data, static_cast<int>(size))) return 0;
  const int64_t image_tokens = h.model->config().image_len;
  auto work = worker::ReadLeaseReply(reply, kMaxLeases, image_tokens);
  if (!work.ok()) {
    fuzz::Note("lease reply: " + work.status().ToString());
    FUZZ_CHECK(work.status().code() == StatusCode::kInvalidArgument, work.status().ToString());
    FUZZ_CHECK(!work.status().message().empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(work->group_size >= 2 && work->group_size <= grpo::kMaxGroupSize, "group_size out of range");
  FUZZ_CHECK(!work->prompts.empty() && static_cast<int>(work->prompts.size()) <= kMaxLeases, "lease count");
  FUZZ_CHECK(work->sampling.steps >= 1 && work->sampling.steps <= image_tokens, "steps out of range");
  const int64_t images = work->group_size * static_cast<int64_t>(work->prompts.size());
  if (images > kMaxSampledImages || work->sampling.steps > kMaxSampledSteps) {
    fuzz::Note("lease reply: accepted, not sampled (" + std::to_string(images) + " images)");
    return 0;
  }
  std::vector<const Prompt*> prompts;
  std::vector<std::string> texts;
  for (const auto& p : work->prompts) prompts.push_back(&p), texts.push_back(p.text);
  // The one refusal left to the sampling path: a prompt the world cannot encode (an unknown
  // word, too long for the text rows). Everything else was the reader's to catch.
  if (auto encoded = h.world->EncodePrompts(texts, h.model->config().text_len); !encoded.ok()) {
    fuzz::Note("lease reply: accepted, the world refuses a prompt: " + encoded.status().ToString());
    return 0;
  }
  SampleOptions so = work->sampling;
  so.seed = worker::SamplingSeed(reply, /*worker_seed=*/7, /*call=*/0);
  auto groups = grpo::SampleGroups(*h.model, *h.world, prompts, work->group_size, so, reply.policy_version());
  FUZZ_CHECK(groups.ok(), "the sampler refused a reply that ReadLeaseReply accepted: " + groups.status().ToString());
  fuzz::Note("lease reply: sampled " + std::to_string(images) + " images");
  FUZZ_CHECK(groups->size() == work->prompts.size(), "one group per lease");
  const int64_t codebook = h.model->config().num_image_codes;
  for (const auto& g : *groups) {
    const auto& t = g.group.trajectories;
    FUZZ_CHECK(t.tokens.size(0) == work->group_size && t.tokens.size(1) == image_tokens, "token shape");
    FUZZ_CHECK(t.tokens.min().item<int64_t>() >= 0 && t.tokens.max().item<int64_t>() < codebook,
               "a token outside the codebook");
    FUZZ_CHECK(t.reveal_step.min().item<int64_t>() >= 0 && t.reveal_step.max().item<int64_t>() < so.steps,
               "a position never revealed");
    FUZZ_CHECK(AllFinite(t.logp_candidate1) && AllFinite(t.logp_candidate2) && AllFinite(t.min_revealed_prob),
               "a non-finite behaviour log-probability");
    FUZZ_CHECK(static_cast<int64_t>(g.images.size()) == work->group_size, "one image per trajectory");
  }
  return 0;
}
