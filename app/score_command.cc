// `maskgrpo score`: scores PNG files against a prompt, with a reward server config's scorers
// in process (--reward-config) or through a running reward server (--server), and prints
// each image's reward and components. The quickest way to try a scorer preset.
#include <grpcpp/client_context.h>

#include <chrono>
#include <cstdio>

#include "app/commands.h"
#include "app/flags.h"
#include "app/scorer_judge.h"
#include "core/image/png_reader.h"
#include "maskgrpo/reward.grpc.pb.h"
#include "rpc/convert.h"
#include "rpc/security.h"

namespace maskgrpo::app {
namespace {

void Print(const std::string& file, double reward, const std::map<std::string, double>& components) {
  std::printf("%s  reward %.6f", file.c_str(), reward);
  for (const auto& [name, value] : components) std::printf("  %s %.4f", name.c_str(), value);
  std::printf("\n");
}

}  // namespace

int ScoreCommand(const std::vector<std::string>& args) {
  std::vector<std::string> flag_args, files;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) {
      flag_args.push_back(args[i]);
      if (i + 1 < args.size()) flag_args.push_back(args[++i]);
    } else {
      files.push_back(args[i]);
    }
  }
  auto flags = Flags::Parse(flag_args, {"prompt", "reward-config", "server"});
  if (!flags.ok()) return ReportError(flags.status());
  if (!flags->Has("prompt") || files.empty() || flags->Has("reward-config") == flags->Has("server")) {
    return ReportError(InvalidArgument(
        "score needs --prompt TEXT, one of --reward-config FILE or --server HOST:PORT, and PNG files"));
  }
  Prompt prompt;
  prompt.text = flags->Get("prompt");
  std::vector<RgbImage> images;
  for (const auto& f : files) {
    auto img = ReadPng(f);
    if (!img.ok()) return ReportError(img.status());
    images.push_back(std::move(*img));
  }
  if (flags->Has("reward-config")) {
    auto judge = ScorerJudge::Load(flags->Get("reward-config"));
    if (!judge.ok()) return ReportError(judge.status());
    auto judged = (*judge)->AsJudge()(prompt, images);
    if (!judged.ok()) return ReportError(judged.status());
    for (size_t i = 0; i < files.size(); ++i) {
      auto components = (*judged)[i].rewards;
      const double reward = components.at("reward");
      components.erase("reward");
      Print(files[i], reward, components);
    }
    return 0;
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxSendMessageSize(64 << 20);
  auto channel = rpc::MakeChannel(flags->Get("server"), config::ClientTlsConfig(), channel_args, "server");
  if (!channel.ok()) return ReportError(channel.status());
  auto stub = v1::Reward::NewStub(*channel);
  v1::ScoreRequest request;
  for (const auto& img : images) {
    auto* item = request.add_items();
    rpc::ToProto(img, item->mutable_image());
    rpc::ToProto(prompt, item->mutable_prompt());
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  v1::ScoreReply reply;
  grpc::Status status = stub->Score(&context, request, &reply);
  if (!status.ok()) return ReportError(Status(StatusCode::kUnavailable, "reward server: " + status.error_message()));
  for (int i = 0; i < reply.scores_size(); ++i) {
    std::map<std::string, double> components(reply.scores(i).components().begin(), reply.scores(i).components().end());
    Print(files[static_cast<size_t>(i)], reply.scores(i).reward(), components);
  }
  return 0;
}

}  // namespace maskgrpo::app
