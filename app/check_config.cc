// `maskgrpo check-config KIND FILE...`: parses each file as the typed config of KIND
// (unknown fields, wrong types and syntax errors are reported with the file and line), so
// that configs shipped for Docker Compose and Kubernetes are checked without starting the
// processes. Files named in a config (models, certificates) are not opened. A train config
// is also converted to the training options over the defaults, as `train` does, so a value
// out of range or a misspelt name (a transition, a step weight) is an error here too.
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/config.h"
#include "maskgrpo/config.pb.h"
#include "maskgrpo/service_config.pb.h"

namespace maskgrpo::app {

int CheckConfigCommand(const std::vector<std::string>& args) {
  using Factory = std::function<std::unique_ptr<google::protobuf::Message>()>;
  const std::map<std::string, Factory> kinds = {
      {"learner", [] { return std::make_unique<config::LearnerServerConfig>(); }},
      {"rollout_worker", [] { return std::make_unique<config::RolloutWorkerConfig>(); }},
      {"reward_server", [] { return std::make_unique<config::RewardServerConfig>(); }},
      {"launch", [] { return std::make_unique<config::LaunchConfig>(); }},
      {"train", [] { return std::make_unique<config::TrainConfig>(DefaultTrainConfig()); }},
      {"eval", [] { return std::make_unique<config::EvalConfig>(); }},
      {"generate", [] { return std::make_unique<config::GenerateConfig>(); }},
      {"pretrain", [] { return std::make_unique<config::PretrainConfig>(); }},
  };
  if (args.size() < 2 || !kinds.count(args[0])) {
    std::fprintf(stderr, "usage: maskgrpo check-config learner|rollout_worker|reward_server|launch|train|eval|generate|pretrain FILE...\n");
    return 2;
  }
  int bad = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    auto message = kinds.at(args[0])();
    Status st = LoadTextConfig(args[i], message.get());
    if (st.ok() && args[0] == "train") st = ToTrainOptions(static_cast<const config::TrainConfig&>(*message)).status();
    if (st.ok()) {
      std::printf("%s: ok (%s)\n", args[i].c_str(), message->GetTypeName().c_str());
    } else {
      std::fprintf(stderr, "%s: %s\n", args[i].c_str(), st.message().c_str());
      ++bad;
    }
  }
  return bad == 0 ? 0 : 1;
}

}  // namespace maskgrpo::app
