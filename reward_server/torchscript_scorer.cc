#include "reward_server/torchscript_scorer.h"

#include <torch/script.h>

#include <cmath>
#include <cstring>

namespace maskgrpo::reward {

TorchScriptScorer::TorchScriptScorer(std::string path, std::unique_ptr<torch::jit::Module> module)
    : path_(std::move(path)), module_(std::move(module)) {}

TorchScriptScorer::~TorchScriptScorer() = default;

StatusOr<std::unique_ptr<Scorer>> TorchScriptScorer::Load(const std::string& path) {
  if (path.empty()) return InvalidArgument("torchscript scorer: model_path is required");
  try {
    auto module = std::make_unique<torch::jit::Module>(torch::jit::load(path, torch::kCPU));
    if (!module->find_method("forward")) return InvalidArgument("torchscript scorer: " + path + " has no forward method");
    module->eval();
    return std::unique_ptr<Scorer>(new TorchScriptScorer(path, std::move(module)));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return InvalidArgument("torchscript scorer: cannot load '" + path + "': " + what.substr(0, what.find('\n')));
  }
}

std::string TorchScriptScorer::description() const {
  return "TorchScript reward model " + path_ + ": forward(images [B,3,H,W] in [0,1], prompts List[str]) -> [B]";
}

StatusOr<std::vector<double>> TorchScriptScorer::Score(const std::vector<const RewardItem*>& items) const {
  if (items.empty()) return std::vector<double>{};
  const int64_t b = static_cast<int64_t>(items.size());
  const int h = items[0]->image.height, w = items[0]->image.width;
  auto images = torch::empty({b, h, w, 3}, torch::kUInt8);
  c10::List<std::string> prompts;
  for (int64_t i = 0; i < b; ++i) {
    const auto& img = items[i]->image;
    if (!img.Valid()) return InvalidArgument("torchscript scorer: an empty or malformed image");
    if (img.height != h || img.width != w) return InvalidArgument("torchscript scorer: images of one batch differ in size");
    std::memcpy(images[i].data_ptr<uint8_t>(), img.rgb.data(), img.rgb.size());
    prompts.push_back(items[i]->prompt.text);
  }
  try {
    torch::NoGradGuard no_grad;
    auto input = images.permute({0, 3, 1, 2}).to(torch::kFloat32).div_(255.0);
    torch::jit::IValue result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result = module_->forward({input, prompts});
    }
    if (!result.isTensor()) return Internal("torchscript scorer: forward returned a " + result.tagKind() + ", not a tensor");
    auto scores = result.toTensor().detach().to(torch::kCPU, torch::kFloat64).contiguous();
    if (scores.numel() != b || (scores.dim() != 1 && !(scores.dim() == 2 && scores.size(1) == 1))) {
      return Internal("torchscript scorer: forward returned shape " + c10::str(scores.sizes()) + " for " +
                      std::to_string(b) + " images (expected [" + std::to_string(b) + "])");
    }
    std::vector<double> out(scores.data_ptr<double>(), scores.data_ptr<double>() + b);
    for (double v : out) {
      if (!std::isfinite(v)) return Internal("torchscript scorer: the model returned a non-finite score");
    }
    return out;
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Internal("torchscript scorer: forward failed: " + what.substr(0, what.find('\n')));
  }
}

}  // namespace maskgrpo::reward
