#include "core/evaluate.h"

#include "core/torch_api.h"

#include <algorithm>
#include <cstdio>

#include "core/json.h"
#include "core/safetensors.h"

namespace maskgrpo {
namespace {

// The sampler's seed for the chunk-th sampler call of an evaluation or a generation: chunks
// never share a seed, and chunk 0 keeps the caller's.
uint64_t ChunkSeed(uint64_t base, int chunk) { return base + static_cast<uint64_t>(chunk) * 1000003ull; }

}  // namespace

StatusOr<EvalResult> EvaluateHeldout(const MaskedTransformer& model, const World& world,
                                     const EvalOptions& options, const std::function<void(int, int)>& progress,
                                     const JudgeFn& judge) {
  if (options.images_per_prompt <= 0 || options.prompts_per_task < 0 || options.batch_images <= 0 ||
      options.min_images_per_task < 0) {
    return InvalidArgument(
        "eval: images_per_prompt and batch_images must be > 0, prompts_per_task and min_images_per_task >= 0");
  }
  // The evaluation set: per task, its held-out prompts in order, cycled up to
  // prompts_per_task (0: every prompt once), each repeated images_per_prompt times.
  if (!judge && !world.has_judge()) {
    return FailedPrecondition("world '" + world.name() +
                              "' has no built-in judge for in-process evaluation: give eval a reward_config whose "
                              "scorers judge its images");
  }
  std::vector<const Prompt*> rows;
  const auto& split = world.prompts(options.train_split ? PromptSplitKind::kTrain : PromptSplitKind::kHeldout);
  if (split.empty()) return InvalidArgument("eval: world '" + world.name() + "' has no prompts in that split");
  for (const auto& tag : OrderedTags(split)) {
    std::vector<const Prompt*> task_prompts;
    for (const auto& p : split) if (p.tag == tag) task_prompts.push_back(&p);
    const size_t n = task_prompts.size();
    const size_t want = options.prompts_per_task > 0 ? static_cast<size_t>(options.prompts_per_task) : n;
    const int per_prompt = std::max<int>(options.images_per_prompt,
                                         static_cast<int>((options.min_images_per_task + want - 1) / want));
    for (size_t i = 0; i < want; ++i) {
      // Training lists are long and ordered by combination, so they are sampled evenly.
      const size_t pick = options.train_split && n > want ? i * n / want : i % n;
      for (int k = 0; k < per_prompt; ++k) rows.push_back(task_prompts[pick]);
    }
  }
  const int64_t text_len = model.config().text_len;
  const auto uncond = world.UnconditionalPrompt(text_len);
  EvalResult result;
  double dense_sum = 0;
  const int total = static_cast<int>(rows.size());
  // Spread the grid over tasks: keep every stride-th image.
  const int stride = std::max(1, total / std::max(1, options.grid_images));
  for (int begin = 0, chunk = 0; begin < total; begin += options.batch_images, ++chunk) {
    const int end = std::min(total, begin + options.batch_images);
    std::vector<std::string> texts;
    for (int i = begin; i < end; ++i) texts.push_back(rows[i]->text);
    ASSIGN_OR_RETURN(PromptBatch prompts, world.EncodePrompts(texts, text_len));
    SampleOptions so = options.sampling;
    so.seed = ChunkSeed(options.sampling.seed, chunk);
    so.record_full = false;
    ASSIGN_OR_RETURN(TrajectoryBatch traj, SampleTrajectories(model, prompts, uncond, so));
    ASSIGN_OR_RETURN(std::vector<RgbImage> images, world.DecodeImages(traj.tokens));
    for (int i = begin; i < end; ++i) {
      RgbImage& img = images[static_cast<size_t>(i - begin)];
      ASSIGN_OR_RETURN(auto judged, judge ? judge(*rows[i], {img}) : world.Judge(*rows[i], {img}));
      if (judged.size() != 1) return Internal("eval: the judge returned " + std::to_string(judged.size()) + " results for 1 image");
      Judgement& judgement = judged.at(0);
      result.table.Add(rows[i]->tag, judgement.correct);
      auto dense = judgement.rewards.find("dense");
      if (dense != judgement.rewards.end()) dense_sum += dense->second;
      if (i % stride == 0 && static_cast<int>(result.grid_images.size()) < options.grid_images) {
        result.grid_images.push_back(img);
        result.grid_captions.push_back(rows[i]->text + (judgement.correct ? " =ok" : " =no"));
      }
      EvalImageResult& row = result.images.emplace_back();
      row.prompt = rows[i];
      row.judgement = std::move(judgement);
    }
    if (progress) progress(end, total);
  }
  result.mean_dense_reward = total ? dense_sum / total : 0.0;
  return result;
}

std::map<std::string, std::map<std::string, double>> RewardMeansByTask(const EvalResult& result) {
  std::map<std::string, std::map<std::string, std::pair<double, int>>> sums;
  for (const auto& r : result.images)
    for (const auto& [name, value] : r.judgement.rewards) {
      auto& s = sums[r.prompt->tag][name];
      s.first += value;
      s.second += 1;
    }
  std::map<std::string, std::map<std::string, double>> means;
  std::map<std::string, std::pair<double, int>> overall;
  for (const auto& [tag, by_name] : sums)
    for (const auto& [name, s] : by_name) {
      const double mean = s.first / s.second;
      means[tag][name] = mean;
      overall[name].first += mean;
      overall[name].second += 1;
    }
  for (const auto& [name, s] : overall) means["overall"][name] = s.first / s.second;
  return means;
}

std::string FormatRewardMeans(const std::map<std::string, std::map<std::string, double>>& means) {
  std::vector<std::string> names;
  if (auto it = means.find("overall"); it != means.end())
    for (const auto& [name, v] : it->second) names.push_back(name);
  std::vector<Prompt> tags;
  for (const auto& [tag, v] : means)
    if (tag != "overall") tags.push_back(Prompt{"", tag, {}, {}});
  std::string out;
  char cell[96];
  std::snprintf(cell, sizeof(cell), "%-14s", "task");
  out += cell;
  for (const auto& n : names) std::snprintf(cell, sizeof(cell), "  %14s", n.substr(0, 14).c_str()), out += cell;
  out += "\n";
  std::vector<std::string> rows = OrderedTags(tags);
  rows.push_back("overall");
  for (const auto& tag : rows) {
    std::snprintf(cell, sizeof(cell), "%-14s", (tag.empty() ? "(no tag)" : tag).c_str());
    out += cell;
    for (const auto& n : names) {
      const auto& row = means.at(tag);
      auto v = row.find(n);
      if (v == row.end()) {
        std::snprintf(cell, sizeof(cell), "  %14s", "-");
      } else {
        std::snprintf(cell, sizeof(cell), "  %14.4f", v->second);
      }
      out += cell;
    }
    out += "\n";
  }
  return out;
}

Status WriteImageResults(const std::string& path, const EvalResult& result) {
  std::string out;
  for (const auto& r : result.images) {
    Json j;
    j["tag"] = r.prompt->tag;
    j["prompt"] = r.prompt->text;
    j["correct"] = r.judgement.correct;
    j["reason"] = r.judgement.reason;
    for (const auto& [name, value] : r.judgement.rewards) j[name] = value;
    if (r.judgement.objects >= 0) j["objects"] = static_cast<int64_t>(r.judgement.objects);
    if (r.judgement.fragments >= 0) j["fragments"] = static_cast<int64_t>(r.judgement.fragments);
    out += j.Dump() + "\n";
  }
  return WriteFileAtomically(path, out);
}

StatusOr<std::vector<RgbImage>> GenerateImages(const MaskedTransformer& model, const World& world,
                                               const std::vector<std::string>& prompts, int per_prompt,
                                               const SampleOptions& options, int batch_images,
                                               const std::function<void(int, int)>& progress) {
  if (per_prompt <= 0) return InvalidArgument("generate: images per prompt must be > 0");
  if (batch_images < 0) return InvalidArgument("generate: batch_images must be >= 0 (0: every image in one call)");
  std::vector<std::string> texts;
  for (const auto& p : prompts)
    for (int k = 0; k < per_prompt; ++k) texts.push_back(p);
  const int total = static_cast<int>(texts.size());
  const int chunk_size = batch_images > 0 ? batch_images : std::max(1, total);
  const int64_t text_len = model.config().text_len;
  const auto uncond = world.UnconditionalPrompt(text_len);
  std::vector<RgbImage> images;
  images.reserve(texts.size());
  for (int begin = 0, chunk = 0; begin < total; begin += chunk_size, ++chunk) {
    const int end = std::min(total, begin + chunk_size);
    ASSIGN_OR_RETURN(PromptBatch batch,
                     world.EncodePrompts(std::vector<std::string>(texts.begin() + begin, texts.begin() + end), text_len));
    SampleOptions so = options;
    so.seed = ChunkSeed(options.seed, chunk);
    so.record_full = false;
    ASSIGN_OR_RETURN(TrajectoryBatch traj, SampleTrajectories(model, batch, uncond, so));
    ASSIGN_OR_RETURN(std::vector<RgbImage> decoded, world.DecodeImages(traj.tokens));
    for (auto& img : decoded) images.push_back(std::move(img));
    if (progress) progress(end, total);
  }
  return images;
}

}  // namespace maskgrpo
