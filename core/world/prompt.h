// Prompts with GenEval's metadata, in a form no world owns: class names, colours and
// relations are strings, so ShapeWorld's shapes and COCO's classes travel the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace maskgrpo {

// One entry of GenEval's "include" / "exclude" lists.
struct ObjectRequirement {
  std::string class_name;
  int count = 1;
  std::string color;     // "" = any colour
  std::string relation;  // "" | "left of" | "right of" | "above" | "below" (GenEval: "position")
  int relation_ref = 0;  // index into include of the object the relation refers to
};

// A prompt and its metadata; `tag` is "" for a prompt that came without any.
struct Prompt {
  std::string text;
  std::string tag;  // single_object | two_object | counting | colors | position | color_attr | ...
  std::vector<ObjectRequirement> include;
  std::vector<ObjectRequirement> exclude;

  // GenEval's evaluation_metadata.jsonl line: {"tag", "include", "exclude", "prompt"}, the
  // relation as GenEval writes it ("position": ["left of", 0]).
  Json ToJson() const;
  // Reads such a line; "prompt" is required, the rest optional. `where` prefixes errors
  // (e.g. "prompts.jsonl:12").
  static StatusOr<Prompt> FromJson(const Json& json, const std::string& where);
};

// GenEval's task tags in its table order; other tags sort after these, by name.
const std::vector<std::string>& GenEvalTags();
// Orders tags for tables and per-task sampling: GenEval's order first, then by name.
std::vector<std::string> OrderedTags(const std::vector<Prompt>& prompts);

// A prompt file: JSON lines (GenEval's evaluation_metadata.jsonl loads as it is), blank
// lines skipped. Every bad line is an error naming file and line; an empty file too.
StatusOr<std::vector<Prompt>> ReadPromptFile(const std::string& path);

// A deterministic train / held-out split: `heldout_fraction` of each tag's prompts (at
// least one when the tag has two or more), chosen by `seed`. Prompts with the same text
// stay on the same side.
struct PromptSets {
  std::vector<Prompt> train;
  std::vector<Prompt> heldout;
};
StatusOr<PromptSets> SplitPrompts(const std::vector<Prompt>& prompts, double heldout_fraction, uint64_t seed);

}  // namespace maskgrpo
