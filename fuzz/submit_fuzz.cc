// A SubmitRequest built from the fuzz bytes (protobuf wire format) goes through the learner's
// own path: DecodeSubmission (what the RPC handler calls), then LearnerCore::Submit, on a real
// learner core (the ShapeWorld base model, a run folder in TMPDIR). A lease_id of the form
// "@N" is replaced by the N-th outstanding lease, so that inputs get past the lease check.
// Oracle: a rejected submission changes no state but its error counter (the learner's
// contract); an accepted one queues exactly one group and consumes its lease.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "fuzz/learner_fuzz_options.h"
#include "learner/learner_core.h"
#include "learner/learner_service.h"

namespace {

using namespace maskgrpo;
using namespace maskgrpo::learner;
namespace fs = std::filesystem;

struct Harness {
  fs::path dir;
  std::unique_ptr<LearnerCore> core;
  std::vector<std::string> leases;  // outstanding
  ~Harness() {
    core.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::unique_ptr<Harness> MakeHarness() {
  auto h = std::make_unique<Harness>();
  h->dir = fuzz::FreshRunDir("submit");
  LearnerCoreOptions o = fuzz::FuzzLearnerOptions(h->dir);
  o.train.learner.transition = Transition::kCandidate2;
  o.max_leases_per_request = 64;
  auto core = LearnerCore::Create(o, LearnerHooks{});
  FUZZ_CHECK(core.ok(), core.status().ToString());
  h->core = std::move(*core);
  auto batch = h->core->Lease("fuzz-worker", 64);
  FUZZ_CHECK(batch.ok() && !batch->leases.empty(), "a new learner hands out no leases");
  for (const auto& l : batch->leases) h->leases.push_back(l.lease_id);
  return h;
}

// Everything in the status snapshot; the counters of `allowed` may differ.
void ExpectSameState(const LearnerStatusSnapshot& a, const LearnerStatusSnapshot& b) {
  FUZZ_CHECK(a.version == b.version && a.finished == b.finished, "version or finished changed");
  FUZZ_CHECK(a.queued_groups == b.queued_groups, "a rejected submission changed the queue");
  FUZZ_CHECK(a.outstanding_leases == b.outstanding_leases, "a rejected submission changed the leases");
  FUZZ_CHECK(a.pending_prompts == b.pending_prompts, "a rejected submission changed the pending prompts");
  v1::LearnerCounters ca = a.counters, cb = b.counters;
  const int64_t invalid = cb.groups_invalid() - ca.groups_invalid(), stale = cb.groups_stale() - ca.groups_stale(),
                late = cb.groups_late() - ca.groups_late();
  FUZZ_CHECK(invalid + stale + late == 1 && invalid >= 0 && stale >= 0 && late >= 0,
             "a rejection is counted once, as invalid, stale or late");
  cb.set_groups_invalid(ca.groups_invalid());
  cb.set_groups_stale(ca.groups_stale());
  cb.set_groups_late(ca.groups_late());
  FUZZ_CHECK(ca.SerializeAsString() == cb.SerializeAsString(), "a rejected submission changed a counter");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<Harness> h;
  if (!h || h->leases.empty()) {
    h.reset();
    h = MakeHarness();
  }
  v1::SubmitRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  size_t lease_index = h->leases.size();
  if (request.lease_id().size() > 1 && request.lease_id()[0] == '@') {
    lease_index = static_cast<size_t>(request.lease_id()[1]) % h->leases.size();
    request.set_lease_id(h->leases[lease_index]);
  } else {
    for (size_t i = 0; i < h->leases.size(); ++i) {
      if (h->leases[i] == request.lease_id()) lease_index = i;
    }
  }
  const LearnerStatusSnapshot before = h->core->GetStatus();
  auto submission = DecodeSubmission(request, h->core->image_tokens());
  StatusOr<SubmitOutcome> outcome = submission.ok() ? h->core->Submit(std::move(*submission)) : submission.status();
  if (!submission.ok()) h->core->CountInvalid();
  const LearnerStatusSnapshot after = h->core->GetStatus();
  fuzz::Note(outcome.ok() ? std::string("submit: ") + SubmitOutcomeName(*outcome)
                          : "submit: " + outcome.status().ToString());
  if (!outcome.ok()) {
    FUZZ_CHECK(!outcome.status().message().empty(), "an error without a message");
    ExpectSameState(before, after);
    return 0;
  }
  FUZZ_CHECK(lease_index < h->leases.size(), "a submission for a lease nobody holds was taken");
  if (*outcome == SubmitOutcome::kAccepted) {
    FUZZ_CHECK(after.queued_groups == before.queued_groups + 1, "an accepted group is not queued once");
    FUZZ_CHECK(after.counters.groups_accepted() == before.counters.groups_accepted() + 1, "accepted not counted");
  } else {
    FUZZ_CHECK(after.queued_groups == before.queued_groups, "a group that was not accepted is queued");
  }
  if (*outcome != SubmitOutcome::kDuplicate) {
    FUZZ_CHECK(after.outstanding_leases == before.outstanding_leases - 1, "the lease is not consumed");
    h->leases.erase(h->leases.begin() + static_cast<std::ptrdiff_t>(lease_index));
  }
  return 0;
}
