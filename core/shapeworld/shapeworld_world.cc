#include "core/shapeworld/shapeworld_world.h"

#include "core/torch_api.h"

#include <algorithm>

#include "core/shapeworld/detector.h"

namespace maskgrpo::shapeworld {
namespace {

int TaskFromTag(const std::string& tag) {
  for (int t = 0; t < kNumTasks; ++t)
    if (tag == TaskName(static_cast<Task>(t))) return t;
  return -1;
}

int RelationFromName(const std::string& name) {
  if (name.empty()) return static_cast<int>(Relation::kNone);
  for (int r = 1; r <= static_cast<int>(Relation::kBelow); ++r)
    if (name == RelationName(static_cast<Relation>(r))) return r;
  return -1;
}

StatusOr<Requirement> FromRequirement(const ObjectRequirement& r, int index, const std::string& where) {
  Requirement out;
  out.shape = ShapeFromName(r.class_name);
  if (out.shape < 0) return InvalidArgument(where + ".class_name: unknown class '" + r.class_name + "'");
  if (r.count < 1 || r.count > 16) return InvalidArgument(where + ".count must be in [1, 16]");
  out.count = r.count;
  if (!r.color.empty()) {
    out.color = ColorFromName(r.color);
    if (out.color < 0) return InvalidArgument(where + ".color: unknown colour '" + r.color + "'");
  }
  const int rel = RelationFromName(r.relation);
  if (rel < 0) return InvalidArgument(where + ".relation: unknown relation '" + r.relation + "'");
  out.relation = static_cast<Relation>(rel);
  if (out.relation != Relation::kNone && (r.relation_ref < 0 || r.relation_ref >= index)) {
    return InvalidArgument(where + ".relation_ref must name an earlier include entry");
  }
  out.relation_ref = r.relation_ref;
  return out;
}

ObjectRequirement ToRequirement(const Requirement& r) {
  ObjectRequirement out;
  out.class_name = ShapeName(r.shape);
  out.count = r.count;
  out.color = r.color >= 0 ? ColorName(r.color) : "";
  out.relation = r.relation == Relation::kNone ? "" : RelationName(r.relation);
  out.relation_ref = r.relation_ref;
  return out;
}

}  // namespace

Prompt ToPrompt(const PromptSpec& spec) {
  Prompt p;
  p.text = spec.text;
  p.tag = TaskName(spec.task);
  for (const auto& r : spec.include) p.include.push_back(ToRequirement(r));
  for (const auto& r : spec.exclude) p.exclude.push_back(ToRequirement(r));
  return p;
}

StatusOr<PromptSpec> FromPrompt(const Prompt& prompt, const std::string& where) {
  PromptSpec out;
  const int task = TaskFromTag(prompt.tag);
  if (task < 0) return InvalidArgument(where + ".tag: unknown task '" + prompt.tag + "'");
  out.task = static_cast<Task>(task);
  if (prompt.include.empty()) return InvalidArgument(where + ".include is empty");
  if (prompt.include.size() > 8 || prompt.exclude.size() > 8) return InvalidArgument(where + ": more than 8 requirements");
  for (size_t i = 0; i < prompt.include.size(); ++i) {
    ASSIGN_OR_RETURN(auto r, FromRequirement(prompt.include[i], static_cast<int>(i),
                                             where + ".include[" + std::to_string(i) + "]"));
    out.include.push_back(r);
  }
  for (size_t i = 0; i < prompt.exclude.size(); ++i) {
    ASSIGN_OR_RETURN(auto r, FromRequirement(prompt.exclude[i], 0, where + ".exclude[" + std::to_string(i) + "]"));
    out.exclude.push_back(r);
  }
  out.text = prompt.text;
  return out;
}

std::vector<std::string> RewardNames() {
  return {"binary", "dense", "graded", "mixed", "binary_clean", "graded_nofrag"};
}

double RewardByName(const std::string& name, const ScoreResult& score) {
  const double binary = score.correct ? 1.0 : 0.0;
  if (name == "binary") return binary;
  if (name == "dense") return score.dense;
  if (name == "graded") return score.graded;
  if (name == "graded_nofrag") return score.graded_nofrag;
  if (name == "mixed") return 0.5 * score.dense + 0.5 * binary;
  if (name == "binary_clean") return binary - kFragmentPenalty * std::min(score.fragments, kMaxPenalisedFragments);
  return 0.0;
}

StatusOr<std::unique_ptr<::maskgrpo::World>> ShapeWorldWorld::Create(const WorldOptions& options) {
  if (!options.tokenizer_dir.empty() || !options.vq_model.empty()) {
    return InvalidArgument("world 'shapeworld' has its own tokenizers: tokenizer_dir and vq_model must be empty");
  }
  std::unique_ptr<ShapeWorldWorld> w(new ShapeWorldWorld());
  if (options.prompt_file.empty()) {
    if (!options.heldout_prompt_file.empty()) return InvalidArgument("world: heldout_prompt_file needs a prompt_file");
    for (const auto& s : w->world_.split.train) w->train_.push_back(ToPrompt(s));
    for (const auto& s : w->world_.split.heldout) w->heldout_.push_back(ToPrompt(s));
    return std::unique_ptr<::maskgrpo::World>(std::move(w));
  }
  // A prompt file of shape prompts: every line must be a prompt ShapeWorld can judge.
  auto read = [&](const std::string& path) -> StatusOr<std::vector<Prompt>> {
    ASSIGN_OR_RETURN(auto prompts, ReadPromptFile(path));
    for (size_t i = 0; i < prompts.size(); ++i) {
      ASSIGN_OR_RETURN(auto spec, FromPrompt(prompts[i], path + ": prompt " + std::to_string(i + 1)));
      auto ids = w->world_.text.Encode(spec.text, 16);
      if (!ids.ok()) return InvalidArgument(path + ": prompt " + std::to_string(i + 1) + ": " + ids.status().message());
    }
    return prompts;
  };
  ASSIGN_OR_RETURN(auto all, read(options.prompt_file));
  if (options.heldout_prompt_file.empty()) {
    ASSIGN_OR_RETURN(auto sets, SplitPrompts(all, options.heldout_fraction, options.split_seed));
    w->train_ = std::move(sets.train);
    w->heldout_ = std::move(sets.heldout);
  } else {
    w->train_ = std::move(all);
    ASSIGN_OR_RETURN(w->heldout_, read(options.heldout_prompt_file));
  }
  return std::unique_ptr<::maskgrpo::World>(std::move(w));
}

Status ShapeWorldWorld::CheckModel(const ModelConfig& c) const {
  if (c.image_len != kGrid * kGrid || c.num_image_codes != world_.image.num_codes() ||
      c.image_token_offset < world_.text.vocab_size() + 2 || c.pad_id != TextTokenizer::kPad) {
    return InvalidArgument("model does not fit ShapeWorld: expected " + std::to_string(kGrid * kGrid) +
                           " image tokens, " + std::to_string(world_.image.num_codes()) +
                           " image codes and ShapeWorld's text ids (pad 0, " +
                           std::to_string(world_.text.vocab_size()) + " words); got " +
                           std::to_string(c.image_len) + " image tokens and " + std::to_string(c.num_image_codes) +
                           " codes");
  }
  return Status::Ok();
}

StatusOr<PromptBatch> ShapeWorldWorld::EncodePrompts(const std::vector<std::string>& texts, int64_t text_len) const {
  return shapeworld::EncodePrompts(world_.text, texts, text_len);
}

PromptBatch ShapeWorldWorld::UnconditionalPrompt(int64_t text_len) const {
  return shapeworld::EmptyPrompt(world_.text, text_len);
}

StatusOr<std::vector<RgbImage>> ShapeWorldWorld::DecodeImages(const at::Tensor& codes) const {
  if (codes.dim() != 2) return InvalidArgument("decode: codes must be [B, N]");
  auto cpu = codes.to(torch::kCPU);
  std::vector<RgbImage> images;
  images.reserve(static_cast<size_t>(cpu.size(0)));
  for (int64_t i = 0; i < cpu.size(0); ++i) {
    ASSIGN_OR_RETURN(RgbImage img, DecodeCodes(world_.image, cpu[i]));
    images.push_back(std::move(img));
  }
  return images;
}

StatusOr<std::vector<Judgement>> ShapeWorldWorld::Judge(const Prompt& prompt, const std::vector<RgbImage>& images) const {
  ASSIGN_OR_RETURN(PromptSpec spec, FromPrompt(prompt, "prompt"));
  std::vector<Judgement> out;
  out.reserve(images.size());
  for (const auto& image : images) {
    if (image.width != kImageSize || image.height != kImageSize || !image.Valid()) {
      return InvalidArgument("ShapeWorld judges " + std::to_string(kImageSize) + "x" + std::to_string(kImageSize) +
                             " images, got " + std::to_string(image.width) + "x" + std::to_string(image.height));
    }
    const auto detections = Detect(image);
    const ScoreResult score = ScoreDetections(spec, detections);
    Judgement& j = out.emplace_back();
    j.correct = score.correct;
    j.reason = score.reason;
    for (const auto& name : RewardNames()) j.rewards[name] = RewardByName(name, score);
    j.fragments = score.fragments;
    j.objects = static_cast<int>(detections.size()) - score.fragments;
  }
  return out;
}

}  // namespace maskgrpo::shapeworld
