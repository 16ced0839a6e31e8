#include "core/world/prompt.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/safetensors.h"

namespace maskgrpo {
namespace {

Json RequirementJson(const ObjectRequirement& r, bool with_position) {
  Json j;
  j["class"] = r.class_name;
  j["count"] = static_cast<int64_t>(r.count);
  if (!r.color.empty()) j["color"] = r.color;
  if (with_position && !r.relation.empty()) {
    j["position"] = Json(Json::Array{Json(r.relation), Json(static_cast<int64_t>(r.relation_ref))});
  }
  return j;
}

StatusOr<ObjectRequirement> RequirementFromJson(const Json& j, const std::string& where) {
  if (!j.is_object()) return InvalidArgument(where + ": expected an object");
  ObjectRequirement r;
  const Json* cls = j.Find("class");
  if (!cls || !cls->is_string() || cls->as_string().empty()) return InvalidArgument(where + ": \"class\" must be a non-empty string");
  r.class_name = cls->as_string();
  if (const Json* count = j.Find("count")) {
    if (!count->is_number() || count->as_number() < 1 || count->as_number() > 1000 ||
        count->as_number() != static_cast<int>(count->as_number())) {
      return InvalidArgument(where + ": \"count\" must be an integer >= 1");
    }
    r.count = static_cast<int>(count->as_number());
  }
  if (const Json* color = j.Find("color")) {
    if (!color->is_string()) return InvalidArgument(where + ": \"color\" must be a string");
    r.color = color->as_string();
  }
  if (const Json* pos = j.Find("position")) {
    if (!pos->is_array() || pos->as_array().size() != 2 || !pos->as_array()[0].is_string() ||
        !pos->as_array()[1].is_number()) {
      return InvalidArgument(where + ": \"position\" must be [relation, index]");
    }
    r.relation = pos->as_array()[0].as_string();
    static const std::set<std::string> kRelations{"left of", "right of", "above", "below"};
    if (!kRelations.count(r.relation)) return InvalidArgument(where + ": unknown relation \"" + r.relation + "\"");
    const double ref = pos->as_array()[1].as_number();
    if (ref < 0 || ref != static_cast<int>(ref)) return InvalidArgument(where + ": the position index must be >= 0");
    r.relation_ref = static_cast<int>(ref);
  }
  return r;
}

}  // namespace

Json Prompt::ToJson() const {
  Json j;
  j["tag"] = tag;
  j["prompt"] = text;
  Json::Array inc, exc;
  for (const auto& r : include) inc.push_back(RequirementJson(r, true));
  for (const auto& r : exclude) exc.push_back(RequirementJson(r, false));
  j["include"] = Json(std::move(inc));
  if (!exc.empty()) j["exclude"] = Json(std::move(exc));
  return j;
}

StatusOr<Prompt> Prompt::FromJson(const Json& json, const std::string& where) {
  if (!json.is_object()) return InvalidArgument(where + ": expected a JSON object");
  Prompt p;
  const Json* text = json.Find("prompt");
  if (!text || !text->is_string()) return InvalidArgument(where + ": \"prompt\" must be a string");
  p.text = text->as_string();
  if (p.text.find_first_not_of(" \t\r\n") == std::string::npos) return InvalidArgument(where + ": the prompt is empty");
  if (const Json* tag = json.Find("tag")) {
    if (!tag->is_string()) return InvalidArgument(where + ": \"tag\" must be a string");
    p.tag = tag->as_string();
  }
  for (const char* list : {"include", "exclude"}) {
    const Json* items = json.Find(list);
    if (!items) continue;
    if (!items->is_array()) return InvalidArgument(where + ": \"" + list + "\" must be a list");
    auto& out = std::string(list) == "include" ? p.include : p.exclude;
    for (size_t i = 0; i < items->as_array().size(); ++i) {
      ASSIGN_OR_RETURN(auto r, RequirementFromJson(items->as_array()[i],
                                                   where + ": " + list + "[" + std::to_string(i) + "]"));
      out.push_back(std::move(r));
    }
  }
  for (size_t i = 0; i < p.include.size(); ++i) {
    const auto& r = p.include[i];
    if (!r.relation.empty() && (r.relation_ref < 0 || static_cast<size_t>(r.relation_ref) >= p.include.size() ||
                                static_cast<size_t>(r.relation_ref) == i)) {
      return InvalidArgument(where + ": include[" + std::to_string(i) + "] refers to object " +
                             std::to_string(r.relation_ref) + ", which is not another included object");
    }
  }
  return p;
}

const std::vector<std::string>& GenEvalTags() {
  static const std::vector<std::string> tags{"single_object", "two_object", "counting",
                                             "colors",        "position",   "color_attr"};
  return tags;
}

std::vector<std::string> OrderedTags(const std::vector<Prompt>& prompts) {
  std::set<std::string> present, others;
  for (const auto& p : prompts) present.insert(p.tag);
  std::vector<std::string> out;
  for (const auto& t : GenEvalTags())
    if (present.count(t)) out.push_back(t);
  for (const auto& t : present)
    if (std::find(GenEvalTags().begin(), GenEvalTags().end(), t) == GenEvalTags().end()) out.push_back(t);
  return out;
}

StatusOr<std::vector<Prompt>> ReadPromptFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  std::vector<Prompt> prompts;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    auto json = Json::Parse(line);
    if (!json.ok()) return InvalidArgument(where + ": " + json.status().message());
    ASSIGN_OR_RETURN(Prompt p, Prompt::FromJson(*json, where));
    prompts.push_back(std::move(p));
  }
  if (prompts.empty()) return InvalidArgument(path + ": no prompts (expected JSON lines with a \"prompt\")");
  return prompts;
}

StatusOr<PromptSets> SplitPrompts(const std::vector<Prompt>& prompts, double heldout_fraction, uint64_t seed) {
  if (!(heldout_fraction >= 0 && heldout_fraction < 1)) {
    return InvalidArgument("heldout_fraction must be in [0, 1), got " + std::to_string(heldout_fraction));
  }
  // Split distinct texts per tag, so that a prompt repeated in the file (GenEval lists some
  // twice) never lands on both sides.
  std::map<std::string, std::vector<std::string>> texts_by_tag;
  std::set<std::string> seen;
  for (const auto& p : prompts)
    if (seen.insert(p.tag + "\n" + p.text).second) texts_by_tag[p.tag].push_back(p.text);
  std::set<std::string> heldout_texts;
  std::mt19937_64 rng(seed);
  for (auto& [tag, texts] : texts_by_tag) {
    std::shuffle(texts.begin(), texts.end(), rng);
    size_t n = static_cast<size_t>(heldout_fraction * static_cast<double>(texts.size()) + 0.5);
    if (heldout_fraction > 0 && n == 0 && texts.size() >= 2) n = 1;
    for (size_t i = 0; i < n; ++i) heldout_texts.insert(tag + "\n" + texts[i]);
  }
  PromptSets sets;
  for (const auto& p : prompts) (heldout_texts.count(p.tag + "\n" + p.text) ? sets.heldout : sets.train).push_back(p);
  if (sets.train.empty()) return InvalidArgument("the prompt set leaves no training prompts after the held-out split");
  return sets;
}

}  // namespace maskgrpo
