// What the worker reads from a lease reply: the sampling seed, and the checks that keep a
// reply it cannot sample as asked from reaching the sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "rollout_worker/worker.h"

namespace maskgrpo::worker {
namespace {

// The learner's seed decides a lease's noise whichever worker takes it; only a learner that
// sends none leaves it to the worker's own (worker, call) stream.
TEST(SamplingSeedTest, TheLeasesSeedWinsOverTheWorkersOwnStream) {
  v1::LeaseReply reply;
  reply.add_leases()->set_sampling_seed(77);
  reply.add_leases()->set_sampling_seed(78);
  EXPECT_EQ(SamplingSeed(reply, /*worker_seed=*/1, /*call=*/0), 77u);
  EXPECT_EQ(SamplingSeed(reply, /*worker_seed=*/2, /*call=*/5), 77u);

  v1::LeaseReply old_learner;  // no sampling_seed on the wire
  old_learner.add_leases();
  const uint64_t w1c0 = SamplingSeed(old_learner, 1, 0);
  EXPECT_EQ(w1c0, SamplingSeed(old_learner, 1, 0));
  EXPECT_NE(w1c0, SamplingSeed(old_learner, 1, 1));
  EXPECT_NE(w1c0, SamplingSeed(old_learner, 2, 0));
  EXPECT_NE(w1c0, 77u);
}

v1::LeaseReply GoodReply() {
  v1::LeaseReply r;
  r.set_policy_version(3);
  r.set_group_size(4);
  auto* s = r.mutable_sampling();
  s->set_steps(8);
  s->set_guidance(2.0);
  s->set_temperature(1.0);
  s->set_gumbel_tau0(1.0);
  r.set_candidate1_noise_edge(true);
  for (const char* text : {"a photo of a red square", "a photo of two circles"}) {
    auto* lease = r.add_leases();
    lease->set_lease_id(std::string("lease-") + text);
    lease->mutable_prompt()->set_text(text);
  }
  return r;
}

TEST(LeaseReplyTest, AGoodReplyIsReadAsSent) {
  auto work = ReadLeaseReply(GoodReply(), /*max_leases=*/2, /*image_tokens=*/64);
  ASSERT_TRUE(work.ok()) << work.status().ToString();
  EXPECT_EQ(work->group_size, 4);
  ASSERT_EQ(work->prompts.size(), 2u);
  EXPECT_EQ(work->prompts[1].text, "a photo of two circles");
  EXPECT_EQ(work->sampling.steps, 8);
  EXPECT_EQ(work->sampling.guidance, 2.0);
  EXPECT_EQ(work->sampling.candidate1_edge, Candidate1Edge::kNoise);
  EXPECT_FALSE(work->sampling.record_full);
}

// Each bad field is an error that names it, before anything is sampled.
TEST(LeaseReplyTest, EachBadFieldIsAnErrorNamingIt) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* what;
    std::function<void(v1::LeaseReply*)> spoil;
    const char* message;
  };
  const Case cases[] = {
      {"negative version", [](v1::LeaseReply* r) { r->set_policy_version(-1); }, "policy_version must be >= 0"},
      {"group of one", [](v1::LeaseReply* r) { r->set_group_size(1); }, "group_size must be in [2, 1024], got 1"},
      {"huge group", [](v1::LeaseReply* r) { r->set_group_size(2000000000); }, "group_size must be in [2, 1024]"},
      {"more leases than asked", [](v1::LeaseReply* r) { r->add_leases()->mutable_prompt()->set_text("x"); },
       "3 leases for a request of at most 2"},
      {"no leases", [](v1::LeaseReply* r) { r->clear_leases(); }, "0 leases"},
      {"no steps", [](v1::LeaseReply* r) { r->mutable_sampling()->set_steps(0); }, "sampling.steps must be >= 1"},
      {"more steps than tokens", [](v1::LeaseReply* r) { r->mutable_sampling()->set_steps(65); },
       "sampling.steps must not exceed the model's 64 image tokens"},
      {"NaN guidance", [nan](v1::LeaseReply* r) { r->mutable_sampling()->set_guidance(nan); },
       "sampling.guidance must be in [0, 100]"},
      {"huge guidance", [](v1::LeaseReply* r) { r->mutable_sampling()->set_guidance(1e30); },
       "sampling.guidance must be in [0, 100]"},
      {"temperature 0 (unset)", [](v1::LeaseReply* r) { r->mutable_sampling()->set_temperature(0); },
       "sampling.temperature must be in [0.01, 100]"},
      {"another temperature", [](v1::LeaseReply* r) { r->mutable_sampling()->set_temperature(0.7); },
       "sampling.temperature must be 1"},
      {"infinite noise", [inf](v1::LeaseReply* r) { r->mutable_sampling()->set_gumbel_tau0(inf); },
       "sampling.gumbel_tau0 must be in [0, 100]"},
      {"negative noise", [](v1::LeaseReply* r) { r->mutable_sampling()->set_gumbel_tau0(-1); },
       "sampling.gumbel_tau0 must be in [0, 100]"},
      {"a task without requirements",
       [](v1::LeaseReply* r) { r->mutable_leases(1)->mutable_prompt()->mutable_spec()->set_tag("counting"); },
       "leases[1].prompt.spec.include is empty"},
  };
  for (const auto& c : cases) {
    v1::LeaseReply reply = GoodReply();
    c.spoil(&reply);
    auto work = ReadLeaseReply(reply, 2, 64);
    ASSERT_FALSE(work.ok()) << c.what;
    EXPECT_EQ(work.status().code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(work.status().message().find(c.message), std::string::npos) << c.what << ": " << work.status().ToString();
  }
}

}  // namespace
}  // namespace maskgrpo::worker
