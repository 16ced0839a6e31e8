#include "core/world/eval_table.h"

#include <algorithm>
#include <cstdio>

#include "core/world/prompt.h"

namespace maskgrpo {

void EvalTable::Add(const std::string& tag, bool correct) {
  auto it = std::find_if(tasks_.begin(), tasks_.end(), [&](const auto& t) { return t.first == tag; });
  if (it == tasks_.end()) it = tasks_.insert(tasks_.end(), {tag, Counts{}});
  it->second.total += 1;
  it->second.correct += correct ? 1 : 0;
}

double EvalTable::TaskScore(const std::string& tag) const {
  for (const auto& [name, c] : tasks_)
    if (name == tag) return c.total ? static_cast<double>(c.correct) / c.total : 0.0;
  return 0.0;
}

int EvalTable::TaskImages(const std::string& tag) const {
  for (const auto& [name, c] : tasks_)
    if (name == tag) return c.total;
  return 0;
}

double EvalTable::Overall() const {
  double sum = 0;
  for (const auto& [name, c] : tasks_) sum += TaskScore(name);
  return tasks_.empty() ? 0.0 : sum / static_cast<double>(tasks_.size());
}

int EvalTable::images() const {
  int n = 0;
  for (const auto& [name, c] : tasks_) n += c.total;
  return n;
}

std::vector<std::string> EvalTable::tags() const {
  std::vector<Prompt> as_prompts;
  for (const auto& [name, c] : tasks_) as_prompts.push_back(Prompt{"", name, {}, {}});
  return OrderedTags(as_prompts);
}

std::string EvalTable::Format() const {
  std::string out = "task            score   images\n";
  char line[160];
  for (const auto& tag : tags()) {
    std::snprintf(line, sizeof(line), "%-14s  %.3f   %d\n", tag.c_str(), TaskScore(tag), TaskImages(tag));
    out += line;
  }
  std::snprintf(line, sizeof(line), "%-14s  %.3f   %d\n", "overall", Overall(), images());
  return out + line;
}

Json EvalTable::ToJson() const {
  Json j;
  j["overall"] = Overall();
  j["images"] = images();
  Json tasks{Json::Object{}};  // an object even when empty (a default Json dumps "null")
  for (const auto& tag : tags()) tasks[tag] = TaskScore(tag);
  j["tasks"] = tasks;
  return j;
}

}  // namespace maskgrpo
