#include "core/showo/bpe_merges.h"

#include <cstddef>

namespace maskgrpo::showo {

void ApplyBpeMerges(const BpeMergeTable& merges, std::vector<int64_t>* symbols_ptr) {
  std::vector<int64_t>& symbols = *symbols_ptr;
  std::vector<int64_t> next;
  while (symbols.size() > 1) {
    const BpeMerge* best = nullptr;
    uint64_t best_key = 0;
    for (size_t p = 0; p + 1 < symbols.size(); ++p) {
      const uint64_t key = BpePairKey(symbols[p], symbols[p + 1]);
      auto it = merges.find(key);
      if (it != merges.end() && (best == nullptr || it->second.rank < best->rank)) {
        best = &it->second;
        best_key = key;
      }
    }
    if (best == nullptr) break;
    next.clear();
    for (size_t p = 0; p < symbols.size();) {
      if (p + 1 < symbols.size() && BpePairKey(symbols[p], symbols[p + 1]) == best_key) {
        next.push_back(best->merged);
        p += 2;
      } else {
        next.push_back(symbols[p++]);
      }
    }
    symbols.swap(next);
  }
}

}  // namespace maskgrpo::showo
