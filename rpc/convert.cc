#include "rpc/convert.h"

#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <iterator>

namespace maskgrpo::rpc {
namespace {

constexpr int kMaxRequirements = 8;
constexpr int kMaxCount = 16;
constexpr size_t kMaxName = 64;

void RequirementToProto(const ObjectRequirement& r, v1::ObjectRequirement* out) {
  out->set_class_name(r.class_name);
  out->set_count(r.count);
  out->set_color(r.color);
  out->set_relation(r.relation);
  out->set_relation_ref(r.relation_ref);
}

StatusOr<ObjectRequirement> RequirementFromProto(const v1::ObjectRequirement& r, int index, const std::string& field) {
  ObjectRequirement out;
  if (r.class_name().empty() || r.class_name().size() > kMaxName) {
    return InvalidArgument(field + ".class_name must have 1 to " + std::to_string(kMaxName) + " characters");
  }
  if (r.color().size() > kMaxName) return InvalidArgument(field + ".color is longer than " + std::to_string(kMaxName));
  if (r.count() < 1 || r.count() > kMaxCount) return InvalidArgument(field + ".count must be in [1, 16]");
  static const char* const kRelations[] = {"", "left of", "right of", "above", "below"};
  if (std::find(std::begin(kRelations), std::end(kRelations), r.relation()) == std::end(kRelations)) {
    return InvalidArgument(field + ".relation: unknown relation '" + r.relation() + "'");
  }
  if (!r.relation().empty() && (r.relation_ref() < 0 || r.relation_ref() >= index)) {
    return InvalidArgument(field + ".relation_ref must name an earlier include entry");
  }
  out.class_name = r.class_name();
  out.count = r.count();
  out.color = r.color();
  out.relation = r.relation();
  out.relation_ref = r.relation_ref();
  return out;
}

template <typename Dst, typename Src>
void CopyTensor(const at::Tensor& t, Dst* out) {
  auto c = t.to(torch::kCPU).contiguous().to(std::is_same_v<Src, float> ? torch::kFloat : torch::kLong);
  const Src* p = c.template data_ptr<Src>();
  out->Reserve(static_cast<int>(c.numel()));
  for (int64_t i = 0; i < c.numel(); ++i) out->Add(p[i]);
}

}  // namespace

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ToProto(const WeightProbe& probe, v1::WeightProbe* out) {
  out->Clear();
  out->mutable_text_ids()->Add(probe.text_ids.begin(), probe.text_ids.end());
  out->mutable_codes()->Add(probe.codes.begin(), probe.codes.end());
  out->mutable_positions()->Add(probe.positions.begin(), probe.positions.end());
  out->mutable_tokens()->Add(probe.tokens.begin(), probe.tokens.end());
  out->mutable_expected_logp()->Add(probe.expected_logp.begin(), probe.expected_logp.end());
  out->set_tolerance(probe.tolerance);
}

WeightProbe FromProto(const v1::WeightProbe& probe) {
  WeightProbe p;
  p.text_ids.assign(probe.text_ids().begin(), probe.text_ids().end());
  p.codes.assign(probe.codes().begin(), probe.codes().end());
  p.positions.assign(probe.positions().begin(), probe.positions().end());
  p.tokens.assign(probe.tokens().begin(), probe.tokens().end());
  p.expected_logp.assign(probe.expected_logp().begin(), probe.expected_logp().end());
  p.tolerance = probe.tolerance();
  return p;
}

void ToProto(const Prompt& prompt, v1::Prompt* out) {
  out->Clear();
  out->set_text(prompt.text);
  auto* spec = out->mutable_spec();
  spec->set_tag(prompt.tag);
  for (const auto& r : prompt.include) RequirementToProto(r, spec->add_include());
  for (const auto& r : prompt.exclude) RequirementToProto(r, spec->add_exclude());
}

StatusOr<Prompt> FromProto(const v1::Prompt& prompt, const std::string& field) {
  Prompt out;
  out.text = prompt.text();
  out.tag = prompt.spec().tag();
  const auto& spec = prompt.spec();
  const std::string spec_field = field + ".spec";
  if (out.tag.size() > kMaxName) return InvalidArgument(spec_field + ".tag is longer than " + std::to_string(kMaxName));
  if (!out.tag.empty() && spec.include_size() == 0) return InvalidArgument(spec_field + ".include is empty");
  if (spec.include_size() > kMaxRequirements || spec.exclude_size() > kMaxRequirements) {
    return InvalidArgument(spec_field + ": more than 8 requirements");
  }
  for (int i = 0; i < spec.include_size(); ++i) {
    auto r = RequirementFromProto(spec.include(i), i, spec_field + ".include[" + std::to_string(i) + "]");
    if (!r.ok()) return r.status();
    out.include.push_back(*r);
  }
  for (int i = 0; i < spec.exclude_size(); ++i) {
    auto r = RequirementFromProto(spec.exclude(i), 0, spec_field + ".exclude[" + std::to_string(i) + "]");
    if (!r.ok()) return r.status();
    out.exclude.push_back(*r);
  }
  return out;
}

void ToProto(const RgbImage& image, v1::Image* out) {
  out->set_height(image.height);
  out->set_width(image.width);
  out->set_rgb(image.rgb.data(), image.rgb.size());
}

StatusOr<RgbImage> FromProto(const v1::Image& image, const std::string& field) {
  if (image.height() < 1 || image.width() < 1 || image.height() > 4096 || image.width() > 4096) {
    return InvalidArgument(field + ": height and width must be in [1, 4096]");
  }
  const size_t expected = static_cast<size_t>(image.height()) * image.width() * 3;
  if (image.rgb().size() != expected) {
    return InvalidArgument(field + ".rgb has " + std::to_string(image.rgb().size()) + " bytes, expected height * width * 3 = " +
                           std::to_string(expected));
  }
  RgbImage out;
  out.height = image.height();
  out.width = image.width();
  out.rgb.assign(image.rgb().begin(), image.rgb().end());
  return out;
}

void ToProto(const TrajectoryBatch& t, v1::TrajectoryGroup* out) {
  out->Clear();
  out->set_group_size(static_cast<int32_t>(t.tokens.size(0)));
  out->set_image_tokens(static_cast<int32_t>(t.tokens.size(1)));
  out->set_steps(static_cast<int32_t>(t.steps));
  CopyTensor<google::protobuf::RepeatedField<int32_t>, int64_t>(t.tokens, out->mutable_tokens());
  CopyTensor<google::protobuf::RepeatedField<int32_t>, int64_t>(t.reveal_step, out->mutable_reveal_step());
  CopyTensor<google::protobuf::RepeatedField<float>, float>(t.min_revealed_prob, out->mutable_min_revealed_prob());
  CopyTensor<google::protobuf::RepeatedField<float>, float>(t.logp_candidate1, out->mutable_logp_candidate1());
  CopyTensor<google::protobuf::RepeatedField<float>, float>(t.logp_candidate2, out->mutable_logp_candidate2());
  if (t.logp_full.defined()) {
    CopyTensor<google::protobuf::RepeatedField<float>, float>(t.logp_full, out->mutable_logp_full());
  }
}

StatusOr<TrajectoryBatch> FromProto(const v1::TrajectoryGroup& g, int64_t image_tokens, const std::string& field) {
  if (g.group_size() < 2 || g.group_size() > 1024) return InvalidArgument(field + ".group_size must be in [2, 1024]");
  if (g.image_tokens() != image_tokens) {
    return InvalidArgument(field + ".image_tokens is " + std::to_string(g.image_tokens()) + ", the model has " +
                           std::to_string(image_tokens));
  }
  if (g.steps() < 1 || g.steps() > image_tokens) return InvalidArgument(field + ".steps must be in [1, image_tokens]");
  const int64_t G = g.group_size(), N = g.image_tokens(), T = g.steps();
  auto check = [&](int size, int64_t expected, const char* name) -> Status {
    if (size != expected) {
      return InvalidArgument(field + "." + name + " has " + std::to_string(size) + " values, expected " +
                             std::to_string(expected));
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(check(g.tokens_size(), G * N, "tokens"));
  RETURN_IF_ERROR(check(g.reveal_step_size(), G * N, "reveal_step"));
  RETURN_IF_ERROR(check(g.min_revealed_prob_size(), G * T, "min_revealed_prob"));
  RETURN_IF_ERROR(check(g.logp_candidate1_size(), G * T, "logp_candidate1"));
  RETURN_IF_ERROR(check(g.logp_candidate2_size(), G * T, "logp_candidate2"));
  if (g.logp_full_size() != 0) RETURN_IF_ERROR(check(g.logp_full_size(), G * T, "logp_full"));
  auto ints = [](const google::protobuf::RepeatedField<int32_t>& f, int64_t rows, int64_t cols) {
    return torch::from_blob(const_cast<int32_t*>(f.data()), {rows, cols}, torch::kInt).to(torch::kLong);
  };
  auto floats = [](const google::protobuf::RepeatedField<float>& f, int64_t rows, int64_t cols) {
    return torch::from_blob(const_cast<float*>(f.data()), {rows, cols}, torch::kFloat).clone();
  };
  TrajectoryBatch t;
  t.steps = T;
  t.tokens = ints(g.tokens(), G, N);
  t.reveal_step = ints(g.reveal_step(), G, N);
  t.min_revealed_prob = floats(g.min_revealed_prob(), G, T);
  t.logp_candidate1 = floats(g.logp_candidate1(), G, T);
  t.logp_candidate2 = floats(g.logp_candidate2(), G, T);
  if (g.logp_full_size() != 0) t.logp_full = floats(g.logp_full(), G, T);
  return t;
}

}  // namespace maskgrpo::rpc
