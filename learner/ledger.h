// The learner's ledger: out_dir/ledger.jsonl, an append-only record of what the learner did,
// one JSON object per line, kept across restarts (never truncated on resume, unlike
// metrics.jsonl). It is the evidence the chaos soak (scripts/chaos_soak.py,
// docs/chaos-soak.md) checks its invariants on; format: docs/run-folder.md.
//
// Each line is written with one write(2) on an O_APPEND descriptor, so a kill -9 loses at most
// the line being written and never interleaves two; a torn last line (power loss, full disk)
// is closed with a newline when the next incarnation opens the file, and readers skip lines
// that do not parse.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "rpc/sync.h"
#include "core/json.h"
#include "core/status.h"

namespace maskgrpo::learner {

class Ledger {
 public:
  // Every line carries "inc" (the writing process's incarnation) and "t" (unix ms).
  static StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path, std::string incarnation);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // `line` must be a JSON object with "event" set. Thread-safe.
  Status Append(Json line);
  const std::string& path() const { return path_; }

 private:
  Ledger(std::string path, std::string incarnation, int fd)
      : path_(std::move(path)), incarnation_(std::move(incarnation)), fd_(fd) {}
  const std::string path_;
  const std::string incarnation_;
  sync::Mutex mu_;
  int fd_;
};

// The incarnations whose "start" line in the ledger at `path` says they resumed from the
// checkpoint that `from_incarnation` wrote as its number `from_seq` (an empty incarnation: a
// fresh start, resumed from nothing). A missing file is an empty set; lines that do not parse
// are skipped, as every reader of the ledger does.
StatusOr<std::set<std::string>> IncarnationsResumedFrom(const std::string& path, const std::string& from_incarnation,
                                                        int64_t from_seq);

// Test-only failpoints of the learner (the chaos soak uses them to land a kill inside a
// window that is otherwise milliseconds wide). MASKGRPO_FAILPOINT is a comma-separated list
// of NAME:MILLISECONDS; when MASKGRPO_FAILPOINT_ARM_DIR is set too, a failpoint fires only
// while the file ARM_DIR/NAME exists. Names: checkpoint_pause (inside LearnerCore::Checkpoint,
// after the weights and optimiser state are written and before learner_state.pb and the
// commit), weights_pause (inside FetchWeights, after the snapshot is taken and before the
// first chunk is written), weights_midstream_pause (inside FetchWeights, right after the
// first chunk is written: the client holds part of the stream). Returns the pause (0: not
// set or not armed).
int64_t FailpointPauseMs(const std::string& name);

}  // namespace maskgrpo::learner
