// The learner's side of the calls a worker makes besides Submit (submit_fuzz.cc): Lease, and
// the weight fan-out's WeightsSource and WeightsHeld. Byte 0 picks the call, the rest is its
// request in protobuf wire format, handed to the real LearnerService on a real LearnerCore
// (ShapeWorld base model, weights_fanout 1, a run folder in TMPDIR), the way gRPC calls it.
// A Lease's wait_ms above 0 becomes 1 ms, so that a full window costs no fuzzing time.
// Oracles:
//   - every refusal is INVALID_ARGUMENT with a message, and leaves the core's state as it was;
//   - a worker_id (or an address) over 256 characters is refused;
//   - an accepted Lease hands out at most max_leases (and the learner's own limit) leases,
//     each new, unique, with a training prompt, a deadline in the future and a sampling seed;
//   - a Lease that reports the leases its worker holds (reports_held_leases) releases exactly
//     the outstanding leases of that worker_id the report leaves out, and no other; one that
//     does not report releases none; a report of more than 4096 ids, or of an id that is
//     empty or over 256 characters, is refused;
//   - the outstanding leases change by exactly the leases handed out minus those released;
//   - WeightsSource names the learner or an address some worker reported holding that version
//     at with WeightsHeld, and never an address any worker reported failing with.
// FetchWeights needs a gRPC stream writer; its stream is fuzzed on the receiving side
// (weights_stream_fuzz.cc).
#include <grpcpp/server_context.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <string>

#include "fuzz/fuzz_util.h"
#include "fuzz/learner_fuzz_options.h"
#include "learner/learner_core.h"
#include "learner/learner_service.h"
#include "rpc/convert.h"

namespace {

using namespace maskgrpo;
using namespace maskgrpo::learner;
namespace fs = std::filesystem;

constexpr int kMaxLeasesPerRequest = 8;

struct Harness {
  fs::path dir;
  std::unique_ptr<LearnerCore> core;
  std::unique_ptr<LearnerService> service;
  std::set<std::string> lease_ids;         // every lease handed out so far
  std::map<std::string, std::string> live;  // outstanding lease id -> its worker_id
  std::set<std::pair<std::string, int64_t>> reported_relays;  // (address, version) from WeightsHeld
  std::set<std::string> failed_sources;                       // every failed_source reported
  // Per worker_id: the instance that asked last and those it replaced (newest last, bounded
  // like the learner's): an instance once replaced must be refused.
  std::map<std::string, std::string> instance;
  std::map<std::string, std::deque<std::string>> replaced;
  int calls = 0;
  ~Harness() {
    service.reset();
    core.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::unique_ptr<Harness> MakeHarness() {
  auto h = std::make_unique<Harness>();
  h->dir = fuzz::FreshRunDir("learner_calls");
  LearnerCoreOptions o = fuzz::FuzzLearnerOptions(h->dir);
  o.max_leases_per_request = kMaxLeasesPerRequest;
  o.weights_fanout = 1;
  auto core = LearnerCore::Create(o, LearnerHooks{});
  FUZZ_CHECK(core.ok(), core.status().ToString());
  h->core = std::move(*core);
  h->service = std::make_unique<LearnerService>(h->core.get(), nullptr);
  return h;
}

void ExpectSameState(const LearnerStatusSnapshot& a, const LearnerStatusSnapshot& b) {
  FUZZ_CHECK(a.version == b.version && a.finished == b.finished, "version or finished changed");
  FUZZ_CHECK(a.queued_groups == b.queued_groups && a.outstanding_leases == b.outstanding_leases &&
                 a.pending_prompts == b.pending_prompts,
             "a refused call changed the queue, the leases or the pending prompts");
  FUZZ_CHECK(a.counters.SerializeAsString() == b.counters.SerializeAsString(), "a refused call changed a counter");
}

void ExpectRefusal(const grpc::Status& status, const LearnerStatusSnapshot& before, const LearnerStatusSnapshot& after) {
  FUZZ_CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT,
             "a refusal that is not INVALID_ARGUMENT: " + std::to_string(status.error_code()));
  FUZZ_CHECK(!status.error_message().empty(), "a refusal without a message");
  ExpectSameState(before, after);
}

void CallLease(Harness& h, v1::LeaseRequest request) {
  if (request.wait_ms() > 0) request.set_wait_ms(1);
  grpc::ServerContext context;
  v1::LeaseReply reply;
  const LearnerStatusSnapshot before = h.core->GetStatus();
  const grpc::Status status = h.service->Lease(&context, &request, &reply);
  const LearnerStatusSnapshot after = h.core->GetStatus();
  fuzz::Note("lease: " + (status.ok() ? std::to_string(reply.leases_size()) + " leases" : status.error_message()));
  if (request.worker_id().size() > kMaxWorkerIdChars) FUZZ_CHECK(!status.ok(), "a worker_id over 256 characters was taken");
  bool bad_report = request.reports_held_leases() && request.held_lease_ids_size() > static_cast<int>(kMaxHeldLeases);
  for (const auto& id : request.held_lease_ids()) {
    bad_report = bad_report || (request.reports_held_leases() && (id.empty() || id.size() > kMaxLeaseIdChars));
  }
  if (bad_report) FUZZ_CHECK(!status.ok(), "a bad held_lease_ids report was taken");
  const std::string& instance = request.worker_instance();
  if (instance.size() > kMaxWorkerInstanceChars) FUZZ_CHECK(!status.ok(), "a worker_instance over 128 characters was taken");
  const auto& gone = h.replaced[request.worker_id()];
  if (!instance.empty() && std::find(gone.begin(), gone.end(), instance) != gone.end()) {
    FUZZ_CHECK(!status.ok(), "an instance another instance of its worker_id replaced was taken");
  }
  if (!status.ok()) return ExpectRefusal(status, before, after);
  if (!instance.empty() && h.instance[request.worker_id()] != instance) {
    auto& current = h.instance[request.worker_id()];
    if (!current.empty()) h.replaced[request.worker_id()].push_back(current);
    if (h.replaced[request.worker_id()].size() > kReplacedInstancesKept) h.replaced[request.worker_id()].pop_front();
    current = instance;
  }
  FUZZ_CHECK(reply.leases_size() <= request.max_leases() && reply.leases_size() <= kMaxLeasesPerRequest,
             "more leases than asked for or allowed: " + std::to_string(reply.leases_size()));
  // Which leases the report should have released: this worker's, left out of the report.
  std::vector<std::string> released;
  if (request.reports_held_leases()) {
    const std::set<std::string> held(request.held_lease_ids().begin(), request.held_lease_ids().end());
    for (const auto& [id, worker] : h.live) {
      if (worker == request.worker_id() && !held.count(id)) released.push_back(id);
    }
  }
  const int64_t released_count = after.counters.leases_released() - before.counters.leases_released();
  FUZZ_CHECK(released_count == static_cast<int64_t>(released.size()),
             "released " + std::to_string(released_count) + " leases, expected " + std::to_string(released.size()));
  for (const auto& id : released) h.live.erase(id);
  FUZZ_CHECK(after.outstanding_leases == before.outstanding_leases + reply.leases_size() - released_count,
             "the outstanding leases did not change by the leases handed out minus those released");
  FUZZ_CHECK(reply.policy_version() == before.version && reply.group_size() == 4, "version or group size");
  FUZZ_CHECK(reply.leases_size() > 0 || reply.retry_after_ms() > 0, "no lease and no retry_after_ms");
  const int64_t now = rpc::NowUnixMs();
  for (const auto& lease : reply.leases()) {
    FUZZ_CHECK(!lease.lease_id().empty() && h.lease_ids.insert(lease.lease_id()).second,
               "a lease id that is empty or was handed out before: " + lease.lease_id());
    h.live[lease.lease_id()] = request.worker_id();
    FUZZ_CHECK(!lease.prompt().text().empty(), "a lease without a prompt");
    FUZZ_CHECK(lease.deadline_unix_ms() > now, "a lease whose deadline has passed");
    FUZZ_CHECK(lease.sampling_seed() != 0, "a lease without a sampling seed");
  }
}

void CallWeightsSource(Harness& h, const v1::WeightsSourceRequest& request) {
  grpc::ServerContext context;
  v1::WeightsSourceReply reply;
  const LearnerStatusSnapshot before = h.core->GetStatus();
  const grpc::Status status = h.service->WeightsSource(&context, &request, &reply);
  const LearnerStatusSnapshot after = h.core->GetStatus();
  fuzz::Note("weights source: " + (status.ok() ? "'" + reply.source() + "'" : status.error_message()));
  if (request.worker_id().size() > kMaxWorkerIdChars || request.failed_source().size() > 256) {
    FUZZ_CHECK(!status.ok(), "a worker_id or failed_source over 256 characters was taken");
  }
  if (!status.ok()) return ExpectRefusal(status, before, after);
  FUZZ_CHECK(reply.retry_after_ms() >= 0, "a negative retry_after_ms");
  if (!request.failed_source().empty()) h.failed_sources.insert(request.failed_source());
  if (!reply.source().empty()) {
    FUZZ_CHECK(h.reported_relays.count({reply.source(), request.version()}) > 0,
               "a source no worker reported holding version " + std::to_string(request.version()) + ": " +
                   reply.source());
    FUZZ_CHECK(h.failed_sources.count(reply.source()) == 0, "sent to a relay a worker failed with: " + reply.source());
    FUZZ_CHECK(reply.retry_after_ms() == 0, "a source and a retry_after_ms");
  }
}

void CallWeightsHeld(Harness& h, const v1::WeightsHeldRequest& request) {
  grpc::ServerContext context;
  v1::WeightsHeldReply reply;
  const LearnerStatusSnapshot before = h.core->GetStatus();
  const grpc::Status status = h.service->WeightsHeld(&context, &request, &reply);
  const LearnerStatusSnapshot after = h.core->GetStatus();
  fuzz::Note("weights held: " + (status.ok() ? std::string("ok") : status.error_message()));
  if (request.worker_id().size() > kMaxWorkerIdChars || request.relay_address().size() > 256) {
    FUZZ_CHECK(!status.ok(), "a worker_id or relay_address over 256 characters was taken");
  }
  if (request.version() > before.version) FUZZ_CHECK(!status.ok(), "a version never published was taken");
  if (!status.ok()) return ExpectRefusal(status, before, after);
  ExpectSameState(before, after);  // the planner's business only
  if (!request.relay_address().empty()) h.reported_relays.insert({request.relay_address(), request.version()});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<Harness> h;
  // A fresh learner now and then: its window of leases fills up, and the planner's tables grow.
  if (!h || ++h->calls > 2000) {
    h.reset();
    h = MakeHarness();
  }
  if (size < 1) return 0;
  const int call = data[0] % 3;
  const void* body = data + 1;
  const int body_size = static_cast<int>(size - 1);
  if (call == 0) {
    v1::LeaseRequest request;
    if (request.ParseFromArray(body, body_size)) CallLease(*h, std::move(request));
  } else if (call == 1) {
    v1::WeightsSourceRequest request;
    if (request.ParseFromArray(body, body_size)) CallWeightsSource(*h, request);
  } else {
    v1::WeightsHeldRequest request;
    if (request.ParseFromArray(body, body_size)) CallWeightsHeld(*h, request);
  }
  return 0;
}
