#include "core/float_sum_ops.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

namespace maskgrpo {
namespace {

double RelativeError(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(torch::kFloat) - want).norm().item<double>() / want.norm().item<double>();
}

// The reference: the same bfloat16 inputs summed in float32 and rounded once, so the only
// error allowed is bfloat16's rounding of the result (about 0.2 % relative here).
TEST(FloatSumOps, BfloatMatmulOnTheCpuSumsInFloat) {
  torch::manual_seed(0);
  auto a = torch::randn({64, 2048}).to(torch::kBFloat16);
  auto b = (torch::randn({2048, 256}) / std::sqrt(2048.0)).to(torch::kBFloat16);
  auto want = torch::matmul(a.to(torch::kFloat), b.to(torch::kFloat));
  auto got = MatmulFloatSum(a, b);
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  const double rel = RelativeError(got, want);
  std::cout << "[ measure ] bfloat16 product over 2048 terms: relative error " << rel << " (plain at::matmul "
            << RelativeError(torch::matmul(a, b), want) << ")\n";
  EXPECT_LT(rel, 0.005);
}

TEST(FloatSumOps, BfloatConvolutionOnTheCpuSumsInFloat) {
  torch::manual_seed(1);
  auto x = torch::randn({2, 128, 16, 16}).to(torch::kBFloat16);
  auto w = (torch::randn({64, 128, 3, 3}) * 0.03).to(torch::kBFloat16);
  auto bias = torch::randn({64}).to(torch::kBFloat16);
  auto want = torch::conv2d(x.to(torch::kFloat), w.to(torch::kFloat), bias.to(torch::kFloat), 1, 1);
  auto got = Conv2dFloatSum(x, w, bias, 1, 1);
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  const double rel = RelativeError(got, want);
  std::cout << "[ measure ] bfloat16 3x3 convolution over 128 channels: relative error " << rel
            << " (plain at::conv2d " << RelativeError(torch::conv2d(x, w, bias, 1, 1), want) << ")\n";
  EXPECT_LT(rel, 0.005);
  // No bias and a stride: the same arguments as at::conv2d.
  auto strided = Conv2dFloatSum(x, w, at::Tensor(), 2, 0);
  EXPECT_EQ(strided.sizes(), (std::vector<int64_t>{2, 64, 7, 7}));
}

TEST(FloatSumOps, FloatInputsAreThePlainOps) {
  torch::manual_seed(2);
  auto a = torch::randn({5, 7});
  auto b = torch::randn({7, 3});
  EXPECT_TRUE(torch::equal(MatmulFloatSum(a, b), torch::matmul(a, b)));
  auto x = torch::randn({1, 3, 8, 8});
  auto w = torch::randn({4, 3, 3, 3});
  EXPECT_TRUE(torch::equal(Conv2dFloatSum(x, w, at::Tensor(), 1, 1), torch::conv2d(x, w, {}, 1, 1)));
  auto batched = MatmulFloatSum(torch::randn({2, 3, 4, 5}).to(torch::kBFloat16), torch::randn({2, 3, 5, 6}).to(torch::kBFloat16));
  EXPECT_EQ(batched.sizes(), (std::vector<int64_t>{2, 3, 4, 6}));
  EXPECT_EQ(batched.scalar_type(), torch::kBFloat16);
}

}  // namespace
}  // namespace maskgrpo
