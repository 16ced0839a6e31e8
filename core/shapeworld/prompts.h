// ShapeWorld prompts in GenEval's six task types, phrasing and metadata schema, with
// shape classes in place of COCO classes; the train / held-out split; and scene sampling
// for a prompt (the "ground truth" images used for pretraining and detector tests).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/shapeworld/world.h"

namespace maskgrpo::shapeworld {

enum class Task { kSingleObject = 0, kTwoObject, kCounting, kColors, kPosition, kColorAttr, kNumTasks };
inline constexpr int kNumTasks = static_cast<int>(Task::kNumTasks);
const char* TaskName(Task task);  // GenEval tags: single_object, two_object, ...

enum class Relation { kNone = 0, kLeftOf, kRightOf, kAbove, kBelow };
const char* RelationName(Relation r);  // "left of", ...

// One entry of GenEval's "include" / "exclude" lists.
struct Requirement {
  int shape = 0;
  int count = 1;
  int color = -1;                       // -1: any colour
  Relation relation = Relation::kNone;  // relative to include[relation_ref]
  int relation_ref = 0;
};

struct PromptSpec {
  Task task = Task::kSingleObject;
  std::vector<Requirement> include;
  std::vector<Requirement> exclude;
  std::string text;

  Json ToJson() const;  // GenEval metadata: {"tag", "include", "exclude", "prompt"}
  // Identity of the (task, classes, colours, count) combination, used for the split.
  std::string CombinationKey() const;
};

PromptSpec MakeSingleObject(int shape);
PromptSpec MakeTwoObject(int a, int b);
PromptSpec MakeCounting(int shape, int count);
PromptSpec MakeColors(int shape, int color);
PromptSpec MakePosition(int a, Relation rel, int b);  // "a photo of a A <rel> a B"
PromptSpec MakeColorAttr(int a, int color_a, int b, int color_b);

struct PromptSplit {
  std::vector<PromptSpec> train;
  std::vector<PromptSpec> heldout;
};

// Every prompt of the world, split so that no (task, classes, colours, count) combination
// is in both parts. Deterministic.
PromptSplit BuildPromptSplit(double heldout_fraction = 0.25, uint64_t seed = 20251013);

// A random scene that satisfies the prompt exactly (unspecified colours random), with a
// one-patch gap between objects so that same-coloured objects never touch.
Scene SampleScene(const PromptSpec& spec, std::mt19937_64& rng);

}  // namespace maskgrpo::shapeworld
