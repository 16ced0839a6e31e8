// The merge step every byte-level BPE shares (GPT-2 / CodeGen's and CLIP's): a table of
// merge rules keyed by the adjacent pair, and the loop that merges the lowest-ranked pair
// (all its occurrences, left to right) until no adjacent pair has a rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace maskgrpo::showo {

struct BpeMerge {
  int64_t rank;
  int64_t merged;  // the id of the merged symbol
};
// (left id << 32 | right id) -> the rule.
using BpeMergeTable = std::unordered_map<uint64_t, BpeMerge>;

inline uint64_t BpePairKey(int64_t left, int64_t right) {
  return (static_cast<uint64_t>(left) << 32) | static_cast<uint64_t>(right);
}

// Merges `symbols` in place.
void ApplyBpeMerges(const BpeMergeTable& merges, std::vector<int64_t>* symbols);

}  // namespace maskgrpo::showo
