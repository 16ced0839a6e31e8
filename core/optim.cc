#include "core/optim.h"

#include "core/torch_api.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace maskgrpo {

std::unique_ptr<torch::optim::AdamW> MakeAdamW(const MaskedTransformer& model, const AdamWSettings& s) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& [name, p] : model.NamedParameters()) {
    if (!p.requires_grad()) continue;  // frozen (LearnerOptions::frozen_parameters)
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(s.learning_rate).betas({s.beta1, s.beta2}).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  // A group that freezing emptied is left out (an optimiser group needs parameters).
  if (!decay.empty()) groups.emplace_back(decay, options(s.weight_decay));
  if (!no_decay.empty()) groups.emplace_back(no_decay, options(0.0));
  return std::make_unique<torch::optim::AdamW>(groups);
}

void SetLearningRate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

double WarmupCosineLr(double base, double min_ratio, int64_t warmup, int64_t total, int64_t step) {
  if (step < warmup) return base * (step + 1) / static_cast<double>(warmup);
  const double progress = static_cast<double>(step - warmup) / std::max<int64_t>(1, total - warmup);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
  return base * (min_ratio + (1.0 - min_ratio) * cosine);
}

Status SaveOptimizer(const torch::optim::AdamW& optimizer, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to(path + ".tmp");
  } catch (const c10::Error& e) {
    return Internal("cannot write optimizer state " + path + ": " + e.what_without_backtrace());
  }
  std::error_code ec;
  std::filesystem::rename(path + ".tmp", path, ec);
  if (ec) return Internal("cannot rename " + path + ".tmp: " + ec.message());
  return Status::Ok();
}

Status LoadOptimizer(torch::optim::AdamW& optimizer, const std::string& path) {
  if (!std::filesystem::exists(path)) return NotFound("optimizer state " + path + " does not exist");
  // Load into a scratch copy first, so that a bad file leaves `optimizer` as it was.
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    std::ostringstream before;
    {
      torch::serialize::OutputArchive backup;
      optimizer.save(backup);
      backup.save_to(before);
    }
    try {
      optimizer.load(archive);
    } catch (const c10::Error&) {
      std::istringstream in(before.str());
      torch::serialize::InputArchive restore;
      restore.load_from(in);
      optimizer.load(restore);
      throw;
    }
    // The state must cover the same parameter shapes.
    for (const auto& group : optimizer.param_groups()) {
      for (const auto& p : group.params()) {
        auto it = optimizer.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
        if (it == optimizer.state().end()) continue;
        const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        if (!st.exp_avg().sizes().equals(p.sizes())) {
          std::istringstream in(before.str());
          torch::serialize::InputArchive restore;
          restore.load_from(in);
          optimizer.load(restore);
          return DataLoss("optimizer state " + path + " does not match the model's parameter shapes");
        }
      }
    }
  } catch (const c10::Error& e) {
    return DataLoss("optimizer state " + path + " is unreadable or does not match the model: " +
                    e.what_without_backtrace());
  }
  return Status::Ok();
}

}  // namespace maskgrpo
