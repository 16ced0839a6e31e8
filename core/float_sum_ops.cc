#include "core/float_sum_ops.h"

#include "core/torch_api.h"

namespace maskgrpo {
namespace {

bool NeedsFloatSum(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 && t.device().is_cpu(); }

at::Tensor ToFloat(const at::Tensor& t) { return t.defined() ? t.to(at::kFloat) : t; }

}  // namespace

at::Tensor MatmulFloatSum(const at::Tensor& a, const at::Tensor& b) {
  if (!NeedsFloatSum(a) && !NeedsFloatSum(b)) return at::matmul(a, b);
  const auto out_type = at::promote_types(a.scalar_type(), b.scalar_type());
  return at::matmul(ToFloat(a), ToFloat(b)).to(out_type);
}

at::Tensor Conv2dFloatSum(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, int64_t stride,
                          int64_t padding) {
  if (!NeedsFloatSum(x) && !NeedsFloatSum(w)) return at::conv2d(x, w, bias, stride, padding);
  const auto out_type = at::promote_types(x.scalar_type(), w.scalar_type());
  return at::conv2d(ToFloat(x), ToFloat(w), ToFloat(bias), stride, padding).to(out_type);
}

}  // namespace maskgrpo
