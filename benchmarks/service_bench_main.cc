// maskgrpo_service_bench: figures for the distributed service over loopback.
//
//   maskgrpo_service_bench reward  [--bin-dir DIR] [--config F] [--clients 1,4,16] [--items N] [--seconds S]
//                                  [--image-size PX]
//       Starts the real reward_server binary, then for each client count runs that many
//       threads, each sending Score requests of N ShapeWorld images back to back for S
//       seconds. Prints images/s and the p50 / p99 request latency per client count.
//   maskgrpo_service_bench weights [--hidden H] [--layers L] [--repeats R] [--threads T] [--dtype float32|bfloat16] [--frozen REGEX]
//       Serves the weights of a Show-o-vocabulary model of H x L (default 768 x 12: ~130M
//       parameters) through Learner.FetchWeights over loopback and fetches them with the
//       rollout worker's client (1 MiB chunks, CRC-32C checked), then applies them to a model
//       as the worker does. Prints bytes/s of the stream and the apply time.
//   maskgrpo_service_bench fanout [--hidden H] [--layers L] [--workers 1,4,8] [--fanout 0,1,2] [--threads T]
//       Weight fan-out: one learner and N workers in this process, each worker with its own
//       relay server, all fetching one version at once by the workers' own code
//       (WeightsFetcher: Learner.WeightsSource, a relay or the learner, WeightsHeld). Prints,
//       per fan-out and worker count, the seconds until every worker holds the version and
//       the bytes the learner sent. Fan-out 0 is every worker pulling from the learner.
//
// Server and clients share this machine's cores, so the figures are a lower bound on what
// separate machines would see.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <unistd.h>

#include "app/child_process.h"
#include "app/flags.h"
#include "core/grpo/learner.h"
#include "core/model_config.h"
#include "core/runtime.h"
#include "core/shapeworld/prompts.h"
#include "core/shapeworld/shapeworld_world.h"
#include "core/shapeworld/world.h"
#include "core/transformer.h"
#include "maskgrpo/reward.grpc.pb.h"
#include "learner/weights_relay_planner.h"
#include "rollout_worker/learner_client.h"
#include "rollout_worker/weights_relay.h"
#include "rpc/convert.h"
#include "rpc/server_util.h"
#include "rpc/status_grpc.h"
#include "rpc/crc32c.h"
#include "rpc/weights_stream.h"

namespace maskgrpo::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char kUsage[] =
    "usage: maskgrpo_service_bench reward  [--bin-dir DIR] [--config F] [--clients 1,4,16] [--items N] [--seconds S]\n"
    "                                      [--image-size PX]  (not 64: random PX x PX images with text-only prompts,\n"
    "                                      for a server configured with a scorer that takes them, e.g. torchscript)\n"
    "       maskgrpo_service_bench weights [--hidden H] [--layers L] [--repeats R] [--threads T] [--dtype float32|bfloat16] [--frozen REGEX]\n"
    "       maskgrpo_service_bench fanout  [--hidden H] [--layers L] [--workers 1,4,8] [--fanout 0,1,2] [--threads T]\n";

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

StatusOr<std::vector<int>> ParseClientCounts(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    char* end = nullptr;
    const long n = std::strtol(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || n < 1 || n > 256) {
      return InvalidArgument("flag --clients: '" + part + "' is not a client count in 1..256");
    }
    out.push_back(static_cast<int>(n));
  }
  if (out.empty()) return InvalidArgument("flag --clients: empty");
  return out;
}

// Requests of `items` rendered scenes for random training prompts (scoring cost does not
// depend on whether the image satisfies its prompt).
std::vector<v1::ScoreRequest> MakeRequests(int count, int items, int image_size) {
  const auto split = shapeworld::BuildPromptSplit();
  std::mt19937_64 rng(7);
  if (image_size != shapeworld::kImageSize) {  // Show-o-sized images: what the transport costs
    std::vector<v1::ScoreRequest> out(count);
    for (auto& request : out) {
      for (int i = 0; i < items; ++i) {
        auto* item = request.add_items();
        item->mutable_image()->set_height(image_size);
        item->mutable_image()->set_width(image_size);
        std::string rgb(static_cast<size_t>(image_size) * image_size * 3, '\0');
        for (auto& byte : rgb) byte = static_cast<char>(rng() & 0xFF);
        item->mutable_image()->set_rgb(std::move(rgb));
        item->mutable_prompt()->set_text("a photo of a red bench");
      }
    }
    return out;
  }
  std::vector<v1::ScoreRequest> out(count);
  for (auto& request : out) {
    for (int i = 0; i < items; ++i) {
      const auto& spec = split.train[rng() % split.train.size()];
      auto* item = request.add_items();
      rpc::ToProto(shapeworld::Render(shapeworld::SampleScene(spec, rng)), item->mutable_image());
      rpc::ToProto(shapeworld::ToPrompt(spec), item->mutable_prompt());
    }
  }
  return out;
}

int RunReward(const app::Flags& flags) {
  int64_t items = 8, seconds = 5, image_size = shapeworld::kImageSize;
  if (Status st = flags.GetInt("items", &items); !st.ok()) return std::fprintf(stderr, "%s\n", st.message().c_str()), 2;
  if (Status st = flags.GetInt("image-size", &image_size); !st.ok()) return std::fprintf(stderr, "%s\n", st.message().c_str()), 2;
  if (image_size < 8 || image_size > 2048) return std::fprintf(stderr, "--image-size must be in 8..2048\n"), 2;
  if (Status st = flags.GetInt("seconds", &seconds); !st.ok()) return std::fprintf(stderr, "%s\n", st.message().c_str()), 2;
  if (items < 1 || items > 256 || seconds < 1) {
    std::fprintf(stderr, "--items must be in 1..256 and --seconds >= 1\n");
    return 2;
  }
  auto clients = ParseClientCounts(flags.Get("clients", "1,4,16"));
  if (!clients.ok()) return std::fprintf(stderr, "%s\n", clients.status().message().c_str()), 2;

  const std::string bin_dir = flags.Get("bin-dir", app::ExecutableDir());
  const fs::path work = fs::temp_directory_path() / ("maskgrpo_service_bench_" + std::to_string(getpid()));
  fs::create_directories(work);
  std::vector<std::string> argv = {bin_dir + "/reward_server", "--listen", "127.0.0.1:0", "--port-file",
                                   (work / "ports").string()};
  if (flags.Has("config")) argv.insert(argv.end(), {"--config", flags.Get("config")});
  auto server = app::ChildProcess::Start("reward_server", argv, (work / "reward_server.log").string());
  if (!server.ok()) return std::fprintf(stderr, "%s\n", server.status().ToString().c_str()), 1;
  auto ports = app::WaitForPorts(&*server, (work / "ports").string(), 30000);
  if (!ports.ok()) {
    server->Stop(2000);
    return std::fprintf(stderr, "%s\n", ports.status().ToString().c_str()), 1;
  }
  const std::string address = "127.0.0.1:" + std::to_string((*ports)["grpc"]);
  const auto requests = MakeRequests(4, static_cast<int>(items), static_cast<int>(image_size));

  std::printf("reward server %s, requests of %lld images of %lldx%lld (%.2f MB), %lld s per row\n", address.c_str(),
              static_cast<long long>(items), static_cast<long long>(image_size), static_cast<long long>(image_size),
              static_cast<double>(requests[0].ByteSizeLong()) / 1e6, static_cast<long long>(seconds));
  std::printf("%8s %10s %10s %10s %10s %8s\n", "clients", "images/s", "p50 ms", "p99 ms", "mean ms", "errors");
  int failures = 0;
  for (int n : *clients) {
    std::vector<std::vector<double>> latencies(n);
    std::atomic<int64_t> images{0}, errors{0};
    std::string first_error;
    std::mutex error_mu;
    const auto start = Clock::now();
    const auto until = start + std::chrono::seconds(seconds);
    std::vector<std::thread> threads;
    for (int c = 0; c < n; ++c) {
      threads.emplace_back([&, c] {
        // One channel per client, as separate rollout workers would have.
        grpc::ChannelArguments args;
        args.SetInt("grpc.use_local_subchannel_pool", 1);
        auto stub = v1::Reward::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
        for (size_t k = c; Clock::now() < until; ++k) {
          const auto& request = requests[k % requests.size()];
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          v1::ScoreReply reply;
          const auto t0 = Clock::now();
          grpc::Status s = stub->Score(&context, request, &reply);
          if (s.ok() && reply.scores_size() == request.items_size()) {
            latencies[c].push_back(Seconds(t0) * 1e3);
            images += request.items_size();
          } else {
            ++errors;
            std::lock_guard<std::mutex> lock(error_mu);
            if (first_error.empty()) first_error = s.ok() ? "wrong number of scores" : s.error_message();
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    const double wall = Seconds(start);
    std::vector<double> all;
    for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    double mean = 0;
    for (double x : all) mean += x / static_cast<double>(all.size());
    std::printf("%8d %10.1f %10.1f %10.1f %10.1f %8lld\n", n, static_cast<double>(images.load()) / wall,
                Percentile(all, 0.5), Percentile(all, 0.99), mean, static_cast<long long>(errors.load()));
    if (errors > 0) {
      std::fprintf(stderr, "first error: %s\n", first_error.c_str());
      ++failures;
    }
  }
  server->Stop(3000);
  fs::remove_all(work);
  return failures == 0 ? 0 : 1;
}

// Serves one weights snapshot and plans fan-out as the learner does (the same planner); the
// rest of the Learner service is not needed here.
class WeightsOnlyLearner final : public v1::Learner::Service {
 public:
  WeightsOnlyLearner(std::shared_ptr<const rpc::WeightsSnapshot> snapshot, int fanout = 0)
      : snapshot_(std::move(snapshot)), planner_(PlannerOptions(fanout)) {}
  grpc::Status FetchWeights(grpc::ServerContext* context, const v1::FetchWeightsRequest* request,
                            grpc::ServerWriter<v1::WeightsChunk>* writer) override {
    if (request->version() != snapshot_->version) return {grpc::StatusCode::FAILED_PRECONDITION, "version not held"};
    int64_t sent = 0;
    const bool complete = rpc::WriteWeightsStream(*snapshot_, request->frozen_fingerprint(), context, writer, &sent);
    bytes_sent_ += sent;
    if (!complete) return {grpc::StatusCode::CANCELLED, "interrupted"};
    return grpc::Status::OK;
  }
  grpc::Status WeightsSource(grpc::ServerContext*, const v1::WeightsSourceRequest* request,
                             v1::WeightsSourceReply* reply) override {
    auto choice = planner_.Choose(request->worker_id(), request->version(), request->failed_source(), rpc::NowUnixMs());
    reply->set_source(choice.source);
    reply->set_retry_after_ms(choice.retry_after_ms);
    return grpc::Status::OK;
  }
  grpc::Status WeightsHeld(grpc::ServerContext*, const v1::WeightsHeldRequest* request, v1::WeightsHeldReply*) override {
    planner_.Held(request->worker_id(), request->version(), request->relay_address(), rpc::NowUnixMs());
    return grpc::Status::OK;
  }
  int64_t bytes_sent() const { return bytes_sent_.load(); }
  learner::RelayPlannerCounts counts() const { return planner_.Counts(); }

 private:
  static learner::RelayPlannerOptions PlannerOptions(int fanout) {
    learner::RelayPlannerOptions o;
    o.fanout = fanout;
    return o;
  }
  std::shared_ptr<const rpc::WeightsSnapshot> snapshot_;
  learner::WeightsRelayPlanner planner_;
  std::atomic<int64_t> bytes_sent_{0};
};

// Show-o's vocabulary and sequence layout at a smaller width and depth.
ModelConfig ShowOShaped(int64_t hidden, int64_t layers) {
  ModelConfig config = ModelConfig::ShowO512();
  config.hidden_size = hidden;
  config.num_layers = layers;
  config.num_heads = hidden / 64;
  config.intermediate_size = 4 * hidden;
  return config;
}

StatusOr<std::vector<int64_t>> IntList(const app::Flags& flags, const std::string& name, const std::string& fallback,
                                       int64_t min) {
  std::vector<int64_t> out;
  std::stringstream list(flags.Get(name, fallback));
  for (std::string item; std::getline(list, item, ',');) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < min) {
      return InvalidArgument("--" + name + ": '" + item + "' is not an integer >= " + std::to_string(min));
    }
    out.push_back(v);
  }
  if (out.empty()) return InvalidArgument("--" + name + " is empty");
  return out;
}

// One fan-out round: `workers` workers fetch version 1 at once; returns the seconds until
// all hold it, and fills the learner's bytes and the planner's counts.
struct FanoutRound {
  double seconds = 0;
  int64_t learner_bytes = 0;
  learner::RelayPlannerCounts counts;
  int failures = 0;
};

FanoutRound RunFanoutRound(const std::shared_ptr<const rpc::WeightsSnapshot>& snapshot, int fanout, int workers) {
  FanoutRound round;
  WeightsOnlyLearner service(snapshot, fanout);
  auto server = rpc::StartGrpcServer(rpc::GrpcServerOptions(), {&service});
  if (!server.ok()) {
    std::fprintf(stderr, "learner: %s\n", server.status().ToString().c_str());
    round.failures = workers;
    return round;
  }
  struct Worker {
    std::unique_ptr<worker::LearnerClient> client;
    std::unique_ptr<worker::WeightsRelayService> relay;
    std::unique_ptr<grpc::Server> relay_server;
    std::unique_ptr<worker::WeightsFetcher> fetcher;
  };
  std::vector<Worker> pool(static_cast<size_t>(workers));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(4 << 20);
  for (int i = 0; i < workers; ++i) {
    auto& w = pool[static_cast<size_t>(i)];
    w.client = std::make_unique<worker::LearnerClient>(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server->port), grpc::InsecureChannelCredentials(), args),
        std::chrono::seconds(10), std::chrono::seconds(600));
    w.relay = std::make_unique<worker::WeightsRelayService>("");
    auto relay_server = rpc::StartGrpcServer(rpc::GrpcServerOptions(), {w.relay.get()});
    if (!relay_server.ok()) {
      std::fprintf(stderr, "relay: %s\n", relay_server.status().ToString().c_str());
      round.failures = workers;
      return round;
    }
    w.relay_server = std::move(relay_server->server);
    w.fetcher = std::make_unique<worker::WeightsFetcher>(
        w.client.get(), "w" + std::to_string(i), w.relay.get(), "127.0.0.1:" + std::to_string(relay_server->port),
        std::chrono::milliseconds(600000), [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  }
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (auto& w : pool) {
    threads.emplace_back([&w, &failures] {
      std::string relay;
      auto fetched = w.fetcher->Fetch(1, 0, &relay, [] { return false; });
      if (!fetched.ok()) {
        std::fprintf(stderr, "fetch: %s\n", fetched.status().ToString().c_str());
        failures++;
        return;
      }
      w.fetcher->Held(*fetched);
    });
  }
  for (auto& t : threads) t.join();
  round.seconds = Seconds(start);
  round.learner_bytes = service.bytes_sent();
  round.counts = service.counts();
  round.failures = failures.load();
  for (auto& w : pool) w.relay_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return round;
}

int RunFanout(const app::Flags& flags) {
  int64_t hidden = 768, layers = 12, threads = 0;
  for (auto [name, out] : {std::pair<const char*, int64_t*>{"hidden", &hidden}, {"layers", &layers}, {"threads", &threads}}) {
    if (Status st = flags.GetInt(name, out); !st.ok()) return std::fprintf(stderr, "%s\n", st.message().c_str()), 2;
  }
  if (hidden < 64 || hidden % 64 != 0 || layers < 1) {
    std::fprintf(stderr, "--hidden must be a multiple of 64, --layers >= 1\n");
    return 2;
  }
  auto worker_counts = IntList(flags, "workers", "1,4,8", 1);
  auto fanouts = IntList(flags, "fanout", "0,1,2", 0);
  for (const auto* list : {&worker_counts, &fanouts}) {
    if (!list->ok()) return std::fprintf(stderr, "%s\n", list->status().message().c_str()), 2;
  }
  ConfigureThreads(static_cast<int>(threads));
  auto source = MaskedTransformer::Create(ShowOShaped(hidden, layers), DeviceOptions{"cpu", "float32"}, /*init_seed=*/1);
  if (!source.ok()) return std::fprintf(stderr, "%s\n", source.status().ToString().c_str()), 1;
  auto snapshot = rpc::SnapshotWeights(**source, /*version=*/1, /*with_probe=*/true);
  if (!snapshot.ok()) return std::fprintf(stderr, "%s\n", snapshot.status().ToString().c_str()), 1;
  const double model_mb = static_cast<double>((*snapshot)->total_bytes) / 1e6;
  std::printf("model: hidden %lld, %lld layers, %.1fM parameters, %.1f MB of float32\n", static_cast<long long>(hidden),
              static_cast<long long>(layers), static_cast<double>((*source)->NumParameters()) / 1e6, model_mb);
  std::printf("%7s %8s %14s %16s %12s %10s %10s\n", "fanout", "workers", "all hold (s)", "learner sent MB",
              "copies sent", "from relay", "fallbacks");
  int failures = 0;
  for (int64_t fanout : *fanouts) {
    for (int64_t workers : *worker_counts) {
      const FanoutRound r = RunFanoutRound(*snapshot, static_cast<int>(fanout), static_cast<int>(workers));
      failures += r.failures;
      const double sent_mb = static_cast<double>(r.learner_bytes) / 1e6;
      std::printf("%7lld %8lld %14.2f %16.1f %12.2f %10lld %10lld\n", static_cast<long long>(fanout),
                  static_cast<long long>(workers), r.seconds, sent_mb, sent_mb / model_mb,
                  static_cast<long long>(r.counts.from_relays), static_cast<long long>(r.counts.fallbacks));
      std::fflush(stdout);
    }
  }
  return failures == 0 ? 0 : 1;
}

int RunWeights(const app::Flags& flags) {
  int64_t hidden = 768, layers = 12, repeats = 3, threads = 0;
  for (auto [name, out] : {std::pair<const char*, int64_t*>{"hidden", &hidden}, {"layers", &layers},
                           {"repeats", &repeats}, {"threads", &threads}}) {
    if (Status st = flags.GetInt(name, out); !st.ok()) return std::fprintf(stderr, "%s\n", st.message().c_str()), 2;
  }
  if (hidden < 64 || hidden % 64 != 0 || layers < 1 || repeats < 1) {
    std::fprintf(stderr, "--hidden must be a multiple of 64, --layers and --repeats >= 1\n");
    return 2;
  }
  DeviceOptions cpu;
  cpu.dtype = flags.Get("dtype", "float32");  // the model's dtype is the wire's: F32 or BF16
  ConfigureThreads(static_cast<int>(threads));
  const ModelConfig config = ShowOShaped(hidden, layers);
  auto source = MaskedTransformer::Create(config, cpu, /*init_seed=*/1);
  if (!source.ok()) return std::fprintf(stderr, "%s\n", source.status().ToString().c_str()), 1;
  const auto t_snap = Clock::now();
  // --frozen REGEX: the learner.frozen_parameters of a run; fetches after the first then
  // carry only the trained parameters.
  std::vector<std::string> frozen;
  if (const std::string pattern = flags.Get("frozen", ""); !pattern.empty()) {
    auto names = grpo::FrozenParameterNames(**source, {pattern});
    if (!names.ok()) return std::fprintf(stderr, "--frozen: %s\n", names.status().message().c_str()), 2;
    frozen = *names;
  }
  auto snapshot = rpc::SnapshotWeights(**source, /*version=*/1, /*with_probe=*/true, frozen);
  if (!snapshot.ok()) return std::fprintf(stderr, "%s\n", snapshot.status().ToString().c_str()), 1;
  const double snapshot_seconds = Seconds(t_snap);
  std::printf("model: hidden %lld, %lld layers, %.1fM parameters, %.1f MB of %s; snapshot %.2f s; CRC-32C %s\n",
              static_cast<long long>(hidden), static_cast<long long>(layers),
              static_cast<double>((*source)->NumParameters()) / 1e6, static_cast<double>((*snapshot)->total_bytes) / 1e6,
              cpu.dtype.c_str(), snapshot_seconds, rpc::Crc32cIsHardware() ? "in hardware (SSE4.2)" : "by table");

  WeightsOnlyLearner service(*snapshot);
  rpc::GrpcServerOptions options;
  auto server = rpc::StartGrpcServer(options, {&service});
  if (!server.ok()) return std::fprintf(stderr, "%s\n", server.status().ToString().c_str()), 1;
  worker::LearnerClient client(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port), grpc::InsecureChannelCredentials()),
      std::chrono::seconds(10), std::chrono::seconds(600));
  auto target = MaskedTransformer::Create(config, cpu, /*init_seed=*/2);
  if (!target.ok()) return std::fprintf(stderr, "%s\n", target.status().ToString().c_str()), 1;

  if (!frozen.empty()) {
    int64_t frozen_bytes = 0;
    for (const auto& t : (*snapshot)->tensors) frozen_bytes += t.frozen ? t.size() : 0;
    std::printf("frozen: %zu tensors, %.1f MB (sent on the first fetch only)\n", frozen.size(),
                static_cast<double>(frozen_bytes) / 1e6);
  }
  std::printf("%6s %12s %12s %12s %10s %8s\n", "run", "MB", "fetch s", "MB/s", "apply s", "stream");
  int failures = 0;
  uint64_t held = 0;  // the frozen parameters' fingerprint the target holds
  for (int r = 1; r <= repeats; ++r) {
    auto fetched = client.FetchWeights(1, held);
    if (!fetched.ok()) {
      std::fprintf(stderr, "fetch: %s\n", fetched.status().ToString().c_str());
      ++failures;
      continue;
    }
    const auto t_apply = Clock::now();
    Status applied = (*target)->LoadState(fetched->tensors, fetched->trained_only
                                                               ? MaskedTransformer::Coverage::kSubset
                                                               : MaskedTransformer::Coverage::kAll);
    const double apply_seconds = Seconds(t_apply);
    if (!applied.ok()) {
      std::fprintf(stderr, "apply: %s\n", applied.ToString().c_str());
      ++failures;
      continue;
    }
    held = fetched->frozen_fingerprint;
    const double mb = static_cast<double>(fetched->bytes) / 1e6;
    std::printf("%6d %12.1f %12.2f %12.1f %10.2f %8s\n", r, mb, fetched->seconds, mb / fetched->seconds, apply_seconds,
                fetched->trained_only ? "trained" : "whole");
  }
  server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return failures == 0 ? 0 : 1;
}

int Main(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "reward" && args[0] != "weights" && args[0] != "fanout")) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  auto flags = args[0] == "reward"    ? app::Flags::Parse(rest, {"bin-dir", "config", "clients", "items", "seconds", "image-size"})
               : args[0] == "weights" ? app::Flags::Parse(rest, {"hidden", "layers", "repeats", "threads", "dtype", "frozen"})
                                      : app::Flags::Parse(rest, {"hidden", "layers", "workers", "fanout", "threads"});
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n%s", flags.status().message().c_str(), kUsage);
    return 2;
  }
  if (args[0] == "reward") return RunReward(*flags);
  return args[0] == "weights" ? RunWeights(*flags) : RunFanout(*flags);
}

}  // namespace
}  // namespace maskgrpo::bench

int main(int argc, char** argv) { return maskgrpo::bench::Main(std::vector<std::string>(argv + 1, argv + argc)); }
