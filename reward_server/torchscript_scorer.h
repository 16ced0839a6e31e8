// Any reward model exported to TorchScript: `forward(images, prompts)` with images a float
// tensor [B, 3, H, W] in [0, 1] and prompts a List[str] of B texts, returning a tensor of B
// finite scores. CLIP-score and aesthetic models plug in this way (export them with
// torch.jit.script or torch.jit.trace around their preprocessing). Runs on the CPU.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "reward_server/scorer.h"

namespace torch::jit {
struct Module;
}

namespace maskgrpo::reward {

class TorchScriptScorer : public Scorer {
 public:
  // Loads and checks the module (it must have a forward method); errors name the path.
  static StatusOr<std::unique_ptr<Scorer>> Load(const std::string& path);
  ~TorchScriptScorer() override;
  std::string name() const override { return "torchscript"; }
  std::string description() const override;
  // Errors (an exception in the model, a wrong shape, a non-finite score) fail the batch.
  StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const override;

 private:
  TorchScriptScorer(std::string path, std::unique_ptr<torch::jit::Module> module);
  std::string path_;
  std::unique_ptr<torch::jit::Module> module_;
  mutable std::mutex mu_;  // one forward at a time: a scripted module may keep state
};

}  // namespace maskgrpo::reward
