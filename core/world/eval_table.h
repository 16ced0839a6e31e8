// GenEval's table: the binary verdicts per task tag; overall = mean of the task scores.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/json.h"

namespace maskgrpo {

class EvalTable {
 public:
  void Add(const std::string& tag, bool correct);
  double TaskScore(const std::string& tag) const;  // 0 for a tag never added
  int TaskImages(const std::string& tag) const;
  double Overall() const;
  int images() const;
  std::vector<std::string> tags() const;  // GenEval's order first, then others by name
  std::string Format() const;             // a fixed-width text table
  Json ToJson() const;                    // {"overall", "tasks": {...}, "images"}

 private:
  struct Counts {
    int correct = 0;
    int total = 0;
  };
  std::vector<std::pair<std::string, Counts>> tasks_;
};

}  // namespace maskgrpo
