#include "core/shapeworld/prompts.h"

#include <algorithm>
#include <map>
#include <set>

namespace maskgrpo::shapeworld {
namespace {

const char* const kTaskNames[] = {"single_object", "two_object", "counting", "colors", "position", "color_attr"};
const char* const kNumberWords[] = {"zero", "one", "two", "three", "four"};

std::string Article(const std::string& next_word) {
  return (!next_word.empty() && std::string("aeiou").find(next_word[0]) != std::string::npos) ? "an" : "a";
}

std::string Noun(int shape, int color) {
  std::string first = color >= 0 ? ColorName(color) : ShapeName(shape);
  std::string words = color >= 0 ? std::string(ColorName(color)) + " " + ShapeName(shape) : ShapeName(shape);
  return Article(first) + " " + words;
}

Json RequirementJson(const Requirement& r) {
  Json j;
  j["class"] = ShapeName(r.shape);
  j["count"] = r.count;
  if (r.color >= 0) j["color"] = ColorName(r.color);
  if (r.relation != Relation::kNone) j["position"] = Json(Json::Array{Json(RelationName(r.relation)), Json(r.relation_ref)});
  return j;
}

}  // namespace

const char* TaskName(Task task) { return kTaskNames[static_cast<int>(task)]; }

const char* RelationName(Relation r) {
  switch (r) {
    case Relation::kLeftOf: return "left of";
    case Relation::kRightOf: return "right of";
    case Relation::kAbove: return "above";
    case Relation::kBelow: return "below";
    default: return "";
  }
}

Json PromptSpec::ToJson() const {
  Json j;
  j["tag"] = TaskName(task);
  j["prompt"] = text;
  Json::Array inc, exc;
  for (const auto& r : include) inc.push_back(RequirementJson(r));
  for (const auto& r : exclude) exc.push_back(RequirementJson(r));
  j["include"] = Json(inc);
  if (!exc.empty()) j["exclude"] = Json(exc);
  return j;
}

std::string PromptSpec::CombinationKey() const {
  std::set<std::string> classes, colors;
  int count = 0;
  for (const auto& r : include) {
    classes.insert(ShapeName(r.shape));
    // Colour bound to its class, so that "red square + blue circle" differs from the swap.
    if (r.color >= 0) colors.insert(std::string(ShapeName(r.shape)) + ":" + ColorName(r.color));
    count = std::max(count, r.count);
  }
  std::string key = TaskName(task);
  for (const auto& c : classes) key += "|" + c;
  key += "#";
  for (const auto& c : colors) key += "|" + c;
  return key + "#" + std::to_string(count);
}

PromptSpec MakeSingleObject(int shape) {
  PromptSpec p{Task::kSingleObject, {{shape, 1}}, {}, ""};
  p.text = "a photo of " + Noun(shape, -1);
  return p;
}

PromptSpec MakeTwoObject(int a, int b) {
  PromptSpec p{Task::kTwoObject, {{a, 1}, {b, 1}}, {}, ""};
  p.text = "a photo of " + Noun(a, -1) + " and " + Noun(b, -1);
  return p;
}

PromptSpec MakeCounting(int shape, int count) {
  PromptSpec p{Task::kCounting, {{shape, count}}, {{shape, count + 1}}, ""};
  p.text = std::string("a photo of ") + kNumberWords[count] + " " + ShapePlural(shape);
  return p;
}

PromptSpec MakeColors(int shape, int color) {
  PromptSpec p{Task::kColors, {{shape, 1, color}}, {}, ""};
  p.text = "a photo of " + Noun(shape, color);
  return p;
}

PromptSpec MakePosition(int a, Relation rel, int b) {
  // GenEval's schema: include[0] is the reference object, include[1] is placed relative to it.
  Requirement ref{b, 1};
  Requirement placed{a, 1, -1, rel, 0};
  PromptSpec p{Task::kPosition, {ref, placed}, {}, ""};
  p.text = "a photo of " + Noun(a, -1) + " " + RelationName(rel) + " " + Noun(b, -1);
  return p;
}

PromptSpec MakeColorAttr(int a, int color_a, int b, int color_b) {
  PromptSpec p{Task::kColorAttr, {{a, 1, color_a}, {b, 1, color_b}}, {}, ""};
  p.text = "a photo of " + Noun(a, color_a) + " and " + Noun(b, color_b);
  return p;
}

PromptSplit BuildPromptSplit(double heldout_fraction, uint64_t seed) {
  std::vector<PromptSpec> all;
  for (int s = 0; s < kNumShapes; ++s) all.push_back(MakeSingleObject(s));
  for (int a = 0; a < kNumShapes; ++a)
    for (int b = 0; b < kNumShapes; ++b)
      if (a != b) all.push_back(MakeTwoObject(a, b));
  for (int s = 0; s < kNumShapes; ++s)
    for (int n = 2; n <= 4; ++n) all.push_back(MakeCounting(s, n));
  for (int s = 0; s < kNumShapes; ++s)
    for (int c = 0; c < kNumColors; ++c) all.push_back(MakeColors(s, c));
  for (int a = 0; a < kNumShapes; ++a)
    for (int b = 0; b < kNumShapes; ++b)
      if (a != b)
        for (Relation r : {Relation::kLeftOf, Relation::kRightOf, Relation::kAbove, Relation::kBelow})
          all.push_back(MakePosition(a, r, b));
  for (int a = 0; a < kNumShapes; ++a)
    for (int b = 0; b < kNumShapes; ++b)
      if (a != b)
        for (int ca = 0; ca < kNumColors; ++ca)
          for (int cb = 0; cb < kNumColors; ++cb) all.push_back(MakeColorAttr(a, ca, b, cb));

  // Split by combination key, per task, so each task has held-out combinations.
  std::map<int, std::vector<std::string>> keys_by_task;
  for (const auto& p : all) {
    auto& keys = keys_by_task[static_cast<int>(p.task)];
    std::string k = p.CombinationKey();
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  std::set<std::string> heldout_keys;
  std::mt19937_64 rng(seed);
  for (auto& [task, keys] : keys_by_task) {
    std::shuffle(keys.begin(), keys.end(), rng);
    size_t n = std::max<size_t>(1, static_cast<size_t>(keys.size() * heldout_fraction + 0.5));
    for (size_t i = 0; i < n && i < keys.size(); ++i) heldout_keys.insert(keys[i]);
  }
  PromptSplit split;
  for (auto& p : all) (heldout_keys.count(p.CombinationKey()) ? split.heldout : split.train).push_back(std::move(p));
  return split;
}

namespace {

bool Separated(const Object& a, const Object& b) {
  // At least one patch between the 2x2 footprints, in x or in y.
  return a.cell_x + kObjectCells < b.cell_x || b.cell_x + kObjectCells < a.cell_x ||
         a.cell_y + kObjectCells < b.cell_y || b.cell_y + kObjectCells < a.cell_y;
}

bool RelationHolds(Relation rel, const Object& placed, const Object& ref) {
  switch (rel) {
    case Relation::kLeftOf: return placed.cell_x < ref.cell_x;
    case Relation::kRightOf: return placed.cell_x > ref.cell_x;
    case Relation::kAbove: return placed.cell_y < ref.cell_y;
    case Relation::kBelow: return placed.cell_y > ref.cell_y;
    default: return true;
  }
}

}  // namespace

Scene SampleScene(const PromptSpec& spec, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> cell(0, kGrid - kObjectCells);
  std::uniform_int_distribution<int> color(0, kNumColors - 1);
  std::uniform_int_distribution<int> texture(0, kNumTextures - 1);
  // Rejection sampling; the grid is roomy enough that this ends quickly for <= 4 objects.
  while (true) {
    Scene scene;
    scene.texture = texture(rng);
    bool ok = true;
    for (const auto& req : spec.include) {
      for (int i = 0; i < req.count && ok; ++i) {
        Object obj{req.shape, req.color >= 0 ? req.color : color(rng), cell(rng), cell(rng)};
        for (const auto& other : scene.objects) ok = ok && Separated(obj, other);
        if (req.relation != Relation::kNone) {
          ok = ok && RelationHolds(req.relation, obj, scene.objects[req.relation_ref]);
        }
        scene.objects.push_back(obj);
      }
    }
    if (ok) return scene;
  }
}

}  // namespace maskgrpo::shapeworld
