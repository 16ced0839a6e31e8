#include "core/evaluate.h"

#include <torch/torch.h>

#include "core/json.h"
#include "core/safetensors.h"

namespace maskgrpo {

using shapeworld::Image;
using shapeworld::PromptSpec;

StatusOr<EvalResult> EvaluateHeldout(const MaskedTransformer& model, const shapeworld::World& world,
                                     const EvalOptions& options, const std::function<void(int, int)>& progress) {
  if (options.images_per_prompt <= 0 || options.prompts_per_task <= 0 || options.batch_images <= 0) {
    return InvalidArgument("eval: images_per_prompt, prompts_per_task and batch_images must be > 0");
  }
  // The evaluation set: per task, its held-out prompts in order, cycled up to
  // prompts_per_task, each repeated images_per_prompt times.
  std::vector<const PromptSpec*> rows;
  const auto& split = options.train_split ? world.split.train : world.split.heldout;
  for (int t = 0; t < shapeworld::kNumTasks; ++t) {
    std::vector<const PromptSpec*> task_prompts;
    for (const auto& p : split) if (static_cast<int>(p.task) == t) task_prompts.push_back(&p);
    if (task_prompts.empty()) continue;
    const size_t n = task_prompts.size(), want = static_cast<size_t>(options.prompts_per_task);
    for (size_t i = 0; i < want; ++i) {
      // Training lists are long and ordered by combination, so they are sampled evenly.
      const size_t pick = options.train_split && n > want ? i * n / want : i % n;
      for (int k = 0; k < options.images_per_prompt; ++k) rows.push_back(task_prompts[pick]);
    }
  }
  const int64_t text_len = model.config().text_len;
  const auto uncond = shapeworld::EmptyPrompt(world.text, text_len);
  EvalResult result;
  double dense_sum = 0;
  const int total = static_cast<int>(rows.size());
  // Spread the grid over tasks: keep every stride-th image.
  const int stride = std::max(1, total / std::max(1, options.grid_images));
  for (int begin = 0, chunk = 0; begin < total; begin += options.batch_images, ++chunk) {
    const int end = std::min(total, begin + options.batch_images);
    std::vector<std::string> texts;
    for (int i = begin; i < end; ++i) texts.push_back(rows[i]->text);
    ASSIGN_OR_RETURN(PromptBatch prompts, shapeworld::EncodePrompts(world.text, texts, text_len));
    SampleOptions so = options.sampling;
    so.seed = options.sampling.seed + static_cast<uint64_t>(chunk) * 1000003ull;
    so.record_full = false;
    ASSIGN_OR_RETURN(TrajectoryBatch traj, SampleTrajectories(model, prompts, uncond, so));
    auto tokens = traj.tokens.to(torch::kCPU);
    for (int i = begin; i < end; ++i) {
      ASSIGN_OR_RETURN(Image img, shapeworld::DecodeCodes(world.image, tokens[i - begin]));
      const auto detections = shapeworld::Detect(img);
      auto score = shapeworld::ScoreDetections(*rows[i], detections);
      result.table.Add(rows[i]->task, score.correct);
      EvalImageResult& row = result.images.emplace_back();
      row.spec = rows[i];
      row.score = score;
      for (const auto& d : detections) (d.shape < 0 ? row.fragments : row.objects) += 1;
      dense_sum += score.dense;
      if (i % stride == 0 && static_cast<int>(result.grid_images.size()) < options.grid_images) {
        result.grid_images.push_back(img);
        result.grid_captions.push_back(rows[i]->text + (score.correct ? " =ok" : " =no"));
      }
    }
    if (progress) progress(end, total);
  }
  result.mean_dense_reward = total ? dense_sum / total : 0.0;
  return result;
}

Status WriteImageResults(const std::string& path, const EvalResult& result) {
  std::string out;
  for (const auto& r : result.images) {
    Json j;
    j["tag"] = shapeworld::TaskName(r.spec->task);
    j["prompt"] = r.spec->text;
    j["correct"] = r.score.correct;
    j["reason"] = r.score.reason;
    j["dense"] = r.score.dense;
    j["graded"] = r.score.graded;
    j["objects"] = static_cast<int64_t>(r.objects);
    j["fragments"] = static_cast<int64_t>(r.fragments);
    out += j.Dump() + "\n";
  }
  return WriteFileAtomically(path, out);
}

StatusOr<std::vector<Image>> GenerateImages(const MaskedTransformer& model, const shapeworld::World& world,
                                            const std::vector<std::string>& prompts, int per_prompt,
                                            const SampleOptions& options) {
  if (per_prompt <= 0) return InvalidArgument("generate: images per prompt must be > 0");
  std::vector<std::string> texts;
  for (const auto& p : prompts)
    for (int k = 0; k < per_prompt; ++k) texts.push_back(p);
  const int64_t text_len = model.config().text_len;
  ASSIGN_OR_RETURN(PromptBatch batch, shapeworld::EncodePrompts(world.text, texts, text_len));
  SampleOptions so = options;
  so.record_full = false;
  ASSIGN_OR_RETURN(TrajectoryBatch traj, SampleTrajectories(model, batch, shapeworld::EmptyPrompt(world.text, text_len), so));
  auto tokens = traj.tokens.to(torch::kCPU);
  std::vector<Image> images;
  for (int64_t i = 0; i < tokens.size(0); ++i) {
    ASSIGN_OR_RETURN(Image img, shapeworld::DecodeCodes(world.image, tokens[i]));
    images.push_back(std::move(img));
  }
  return images;
}

}  // namespace maskgrpo
