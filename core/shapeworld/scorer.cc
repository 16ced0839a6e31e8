#include "core/shapeworld/scorer.h"

#include <algorithm>
#include <cstdio>

namespace maskgrpo::shapeworld {
namespace {

bool Holds(Relation rel, const Detection& a, const Detection& ref) {
  const double dx = a.center_x - ref.center_x, dy = a.center_y - ref.center_y;
  switch (rel) {
    case Relation::kLeftOf: return dx < -kPositionThreshold;
    case Relation::kRightOf: return dx > kPositionThreshold;
    case Relation::kAbove: return dy < -kPositionThreshold;
    case Relation::kBelow: return dy > kPositionThreshold;
    default: return true;
  }
}

// Credit below 0.5 for a pair in the wrong arrangement, rising as `a` moves towards the side
// the relation asks for: 0 at the threshold on the wrong side, 0.5 at the threshold on the right.
double RelationCloseness(Relation rel, const Detection& a, const Detection& ref) {
  const double dx = a.center_x - ref.center_x, dy = a.center_y - ref.center_y;
  double d = 0;  // displacement in the direction the relation asks for
  switch (rel) {
    case Relation::kLeftOf: d = -dx; break;
    case Relation::kRightOf: d = dx; break;
    case Relation::kAbove: d = -dy; break;
    case Relation::kBelow: d = dy; break;
    default: return 1.0;
  }
  return 0.5 * std::clamp((d + kPositionThreshold) / (2 * kPositionThreshold), 0.0, 1.0);
}

std::vector<const Detection*> Matching(const std::vector<Detection>& dets, const Requirement& r, bool use_color) {
  std::vector<const Detection*> out;
  for (const auto& d : dets) {
    if (d.shape == r.shape && (!use_color || r.color < 0 || d.color == r.color)) out.push_back(&d);
  }
  return out;
}

// GenEval's verdict (evaluate_images.py): for each required class only its top-`count`
// detections by confidence (here the template IoU) are judged; a colour requirement needs
// that many of those in the colour, and a relation must hold between every judged object
// and every judged object of its reference. Extra objects of a class are ignored, so a
// cluttered image gains nothing from its extras (a lenient "any pair" rule would pay for
// clutter: more objects, more pairs, more chances).
bool GenEvalVerdict(const PromptSpec& spec, const std::vector<Detection>& detections, std::string* reason) {
  auto fail = [&](const std::string& why) {
    if (reason->empty()) *reason = why;
    return false;
  };
  bool correct = true;
  // judged[i]: the objects include[i] matched with, or empty when it failed (GenEval's None).
  std::vector<std::vector<const Detection*>> judged;
  for (const auto& req : spec.include) {
    std::vector<const Detection*> of_class;
    for (const auto& d : detections)
      if (d.shape == req.shape) of_class.push_back(&d);
    std::stable_sort(of_class.begin(), of_class.end(),
                     [](const Detection* a, const Detection* b) { return a->iou > b->iou; });
    if (static_cast<int>(of_class.size()) > req.count) of_class.resize(static_cast<size_t>(req.count));
    bool matched = true;
    if (static_cast<int>(of_class.size()) < req.count) {
      matched = correct = fail("expected " + std::to_string(req.count) + " " +
                               (req.count == 1 ? ShapeName(req.shape) : ShapePlural(req.shape)) + ", found " +
                               std::to_string(of_class.size()));
    } else {
      if (req.color >= 0) {
        const auto in_color = std::count_if(of_class.begin(), of_class.end(),
                                            [&](const Detection* d) { return d->color == req.color; });
        if (in_color < req.count) {
          matched = correct = fail("expected " + std::string(ColorName(req.color)) + " " + ShapeName(req.shape) +
                                   ", found " + ColorName(of_class[0]->color));
        }
      }
      if (matched && req.relation != Relation::kNone) {
        const auto& targets = judged.at(static_cast<size_t>(req.relation_ref));
        if (targets.empty()) {
          matched = correct = fail(std::string("no ") + ShapeName(spec.include[req.relation_ref].shape) + " for the " +
                                   ShapeName(req.shape) + " to be " + RelationName(req.relation));
        }
        for (const Detection* a : of_class)
          for (const Detection* b : targets)
            if (matched && !Holds(req.relation, *a, *b)) {
              matched = correct = fail(std::string(ShapeName(req.shape)) + " not " + RelationName(req.relation) + " " +
                                       ShapeName(spec.include[req.relation_ref].shape));
            }
      }
    }
    judged.push_back(matched ? of_class : std::vector<const Detection*>{});
  }
  for (const auto& req : spec.exclude) {
    const int found = static_cast<int>(Matching(detections, req, /*use_color=*/true).size());
    if (found >= req.count) correct = fail(std::string("too many ") + ShapePlural(req.shape) + ": " + std::to_string(found));
  }
  return correct;
}

}  // namespace

ScoreResult ScoreDetections(const PromptSpec& spec, const std::vector<Detection>& detections) {
  ScoreResult result;
  result.correct = GenEvalVerdict(spec, detections, &result.reason);
  for (const auto& d : detections) result.fragments += d.shape < 0 ? 1 : 0;
  std::vector<double> credit;
  // `graded` keeps the include and relation credits; exclusions and fragments scale it down
  // instead of adding credit, so that nothing earns credit by itself (an empty image scores 0).
  std::vector<double> graded_terms;
  double graded_factor = 1.0;
  std::vector<std::vector<const Detection*>> matched;
  for (const auto& req : spec.include) {
    auto exact = Matching(detections, req, /*use_color=*/true);
    matched.push_back(exact);
    const double n = static_cast<double>(exact.size());
    double c = std::min(n, static_cast<double>(req.count)) / req.count;
    if (req.color >= 0 && c < 1.0) {
      // Half credit for the right shape in the wrong colour.
      const double any = static_cast<double>(Matching(detections, req, false).size());
      c = std::max(c, 0.5 * std::min(any, static_cast<double>(req.count)) / req.count);
    }
    credit.push_back(c);
    graded_terms.push_back(c);
  }
  for (const auto& req : spec.exclude) {
    auto found = Matching(detections, req, true);
    bool ok = static_cast<int>(found.size()) < req.count;
    credit.push_back(ok ? 1.0 : 0.0);
    if (!ok) graded_factor *= 0.5;
  }
  for (size_t i = 0; i < spec.include.size(); ++i) {
    const auto& req = spec.include[i];
    if (req.relation == Relation::kNone) continue;
    bool ok = false;
    double closeness = 0.0;
    for (const Detection* a : matched[i])
      for (const Detection* b : matched[req.relation_ref]) {
        ok = ok || Holds(req.relation, *a, *b);
        closeness = std::max(closeness, RelationCloseness(req.relation, *a, *b));
      }
    graded_terms.push_back(ok ? 1.0 : closeness);
    credit.push_back(ok ? 1.0 : 0.0);
  }
  // Coherent images: fragments (regions matching no shape) lose credit.
  int fragments = 0;
  for (const auto& d : detections) fragments += d.shape < 0;
  credit.push_back(1.0 / (1.0 + fragments));
  double sum = 0;
  for (double c : credit) sum += c;
  result.dense = sum / credit.size();
  double graded_sum = 0;
  for (double c : graded_terms) graded_sum += c;
  const double graded_credit = graded_terms.empty() ? 0.0 : graded_factor * graded_sum / graded_terms.size();
  result.graded_nofrag = graded_credit;
  result.graded = graded_credit / (1.0 + 0.5 * fragments);
  return result;
}

void EvalTable::Add(Task task, bool correct) {
  total_[static_cast<int>(task)] += 1;
  correct_[static_cast<int>(task)] += correct ? 1 : 0;
}

double EvalTable::TaskScore(Task task) const {
  const int i = static_cast<int>(task);
  return total_[i] ? static_cast<double>(correct_[i]) / total_[i] : 0.0;
}

double EvalTable::Overall() const {
  double sum = 0;
  int tasks = 0;
  for (int i = 0; i < kNumTasks; ++i) {
    if (!total_[i]) continue;
    sum += TaskScore(static_cast<Task>(i));
    ++tasks;
  }
  return tasks ? sum / tasks : 0.0;
}

int EvalTable::images() const {
  int n = 0;
  for (int t : total_) n += t;
  return n;
}

std::string EvalTable::Format() const {
  std::string out = "task            score   images\n";
  char line[96];
  for (int i = 0; i < kNumTasks; ++i) {
    std::snprintf(line, sizeof(line), "%-14s  %.3f   %d\n", TaskName(static_cast<Task>(i)), TaskScore(static_cast<Task>(i)),
                  total_[i]);
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
  for (int i = 0; i < kNumTasks; ++i) tasks[TaskName(static_cast<Task>(i))] = TaskScore(static_cast<Task>(i));
  j["tasks"] = tasks;
  return j;
}

}  // namespace maskgrpo::shapeworld
