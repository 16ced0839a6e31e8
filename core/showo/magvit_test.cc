#include "core/showo/magvit.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace maskgrpo::showo {
namespace {

// A small config with every block type: three levels (two upsamples), a channel change
// (nin_shortcut at up.1.block.0) and uneven block counts, so a level-order mistake shows.
// It matches SMALL in testdata/magvit_reference.py.
MagvitDecoderConfig SmallConfig() {
  MagvitDecoderConfig c;
  c.ch = 32;
  c.ch_mult = {1, 1, 2};
  c.num_res_blocks = {2, 1, 2};
  return c;
}

template <typename T>
T Unwrap(StatusOr<T> s) {
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) throw std::runtime_error(s.status().ToString());
  return std::move(s).value();
}

// ---------------- LFQ ----------------
TEST(Lfq, PublishedCases) {
  // Tokens in row-major order on a 2x2 grid: k -> (k / 2, k % 2).
  auto codes = torch::tensor({int64_t{0}, int64_t{8191}, int64_t{4096}, int64_t{1}}).view({1, 4});
  auto z = Unwrap(LfqCodesToLatent(codes, 13));
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{1, 13, 2, 2}));
  ASSERT_EQ(z.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(z.index({0, torch::indexing::Slice(), 0, 0}), -torch::ones({13})));  // 0 -> all -1
  EXPECT_TRUE(torch::equal(z.index({0, torch::indexing::Slice(), 0, 1}), torch::ones({13})));   // 8191 -> all +1
  auto e4096 = -torch::ones({13});
  e4096[0] = 1;  // channel 0 is the most significant bit
  EXPECT_TRUE(torch::equal(z.index({0, torch::indexing::Slice(), 1, 0}), e4096));
  auto e1 = -torch::ones({13});
  e1[12] = 1;
  EXPECT_TRUE(torch::equal(z.index({0, torch::indexing::Slice(), 1, 1}), e1));
}

TEST(Lfq, RoundTripAllCodesAndCodebook) {
  auto all = torch::arange(8192, torch::kLong);
  // As a batch of 8192 1x1 grids, and as 2 grids of 64x64 (8192 itself is not a square).
  auto z = Unwrap(LfqCodesToLatent(all.view({8192, 1}), 13));
  EXPECT_TRUE(torch::equal(z.view({8192, 13}), LfqCodebook(13)));
  EXPECT_TRUE(torch::equal(Unwrap(LatentToLfqCodes(z)).view({-1}), all));
  auto z2 = Unwrap(LfqCodesToLatent(all.view({2, 4096}), 13));
  ASSERT_EQ(z2.sizes(), (std::vector<int64_t>{2, 13, 64, 64}));
  EXPECT_TRUE(torch::equal(Unwrap(LatentToLfqCodes(z2)), all.view({2, 4096})));
  // Values are exactly +-1.
  EXPECT_TRUE(torch::equal(z2.abs(), torch::ones_like(z2)));
  // int32 codes are accepted too.
  EXPECT_TRUE(torch::equal(Unwrap(LfqCodesToLatent(all.view({2, 4096}).to(torch::kInt), 13)), z2));
}

TEST(Lfq, SignConventionOfTheInverse) {
  // z > 0 -> bit 1; zero and negatives -> bit 0.
  auto z = -torch::ones({1, 13, 1, 3});
  z.index_put_({0, 12, 0, 0}, 0.0);   // zero is not > 0
  z.index_put_({0, 12, 0, 1}, 1e-6);  // any positive value sets the bit
  z.index_put_({0, 0, 0, 2}, 3.0);
  auto codes = Unwrap(LatentToLfqCodes(z));
  EXPECT_EQ(codes[0][0].item<int64_t>(), 0);
  EXPECT_EQ(codes[0][1].item<int64_t>(), 1);
  EXPECT_EQ(codes[0][2].item<int64_t>(), 4096);
}

TEST(Lfq, BadInputsAreErrors) {
  auto not_square = LfqCodesToLatent(torch::zeros({1, 3}, torch::kLong));
  ASSERT_FALSE(not_square.ok());
  EXPECT_NE(not_square.status().message().find("square"), std::string::npos) << not_square.status().message();
  auto too_big = LfqCodesToLatent(torch::full({1, 4}, 8192, torch::kLong));
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("[0, 8192)"), std::string::npos) << too_big.status().message();
  EXPECT_NE(too_big.status().message().find("8192]"), std::string::npos) << too_big.status().message();
  auto negative = LfqCodesToLatent(torch::full({1, 4}, -1, torch::kLong));
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("-1"), std::string::npos);
  EXPECT_FALSE(LfqCodesToLatent(torch::zeros({1, 4}, torch::kFloat)).ok());
  EXPECT_FALSE(LfqCodesToLatent(torch::zeros({4}, torch::kLong)).ok());
  EXPECT_FALSE(LfqCodesToLatent(torch::zeros({1, 0}, torch::kLong)).ok());
  EXPECT_FALSE(LfqCodesToLatent(at::Tensor()).ok());
  EXPECT_FALSE(LfqCodesToLatent(torch::zeros({1, 4}, torch::kLong), 0).ok());
  EXPECT_FALSE(LatentToLfqCodes(torch::zeros({13, 2, 2})).ok());
}

// ---------------- Config and layout ----------------
TEST(MagvitConfig, Validation) {
  EXPECT_TRUE(MagvitDecoderConfig().Validate().ok());
  auto c = SmallConfig();
  c.ch = 48;
  auto st = c.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("multiple of 32"), std::string::npos) << st.message();
  c = SmallConfig();
  c.num_res_blocks.pop_back();
  EXPECT_FALSE(c.Validate().ok());
  c = SmallConfig();
  c.ch_mult.clear();
  c.num_res_blocks.clear();
  EXPECT_FALSE(c.Validate().ok());
}

TEST(MagvitLayout, PublishedModuleTable) {
  // docs/showo-stack.md 3.3: the module table of the published decoder.
  std::map<std::string, std::vector<int64_t>> shapes;
  int64_t total = 0;
  for (const auto& [name, shape] : MagvitDecoderParameterShapes(MagvitDecoderConfig())) {
    EXPECT_TRUE(shapes.emplace(name, shape).second) << "duplicate " << name;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    total += n;
  }
  EXPECT_EQ(total, 39947833);
  auto expect = [&](const std::string& name, std::vector<int64_t> shape) {
    auto it = shapes.find(name);
    ASSERT_NE(it, shapes.end()) << name;
    EXPECT_EQ(it->second, shape) << name;
  };
  auto absent = [&](const std::string& name) { EXPECT_EQ(shapes.count(name), 0u) << name; };
  expect("decoder.post_quant_conv.weight", {13, 13, 1, 1});
  expect("decoder.conv_in.weight", {512, 13, 3, 3});
  expect("decoder.mid.attn_1.q.weight", {512, 512, 1, 1});
  expect("decoder.mid.attn_1.proj_out.bias", {512});
  expect("decoder.mid.block_2.norm2.weight", {512});
  expect("decoder.up.4.block.2.conv2.weight", {512, 512, 3, 3});
  absent("decoder.up.4.block.3.conv1.weight");
  expect("decoder.up.4.upsample.conv.weight", {512, 512, 3, 3});
  expect("decoder.up.3.block.0.conv1.weight", {256, 512, 3, 3});
  expect("decoder.up.3.block.0.nin_shortcut.weight", {256, 512, 1, 1});
  expect("decoder.up.3.block.3.conv2.weight", {256, 256, 3, 3});
  absent("decoder.up.3.block.1.nin_shortcut.weight");
  expect("decoder.up.3.upsample.conv.weight", {256, 256, 3, 3});
  expect("decoder.up.2.block.2.conv1.weight", {256, 256, 3, 3});
  absent("decoder.up.2.block.3.conv1.weight");
  absent("decoder.up.2.block.0.nin_shortcut.weight");
  expect("decoder.up.1.block.0.nin_shortcut.weight", {128, 256, 1, 1});
  expect("decoder.up.1.block.3.norm1.weight", {128});
  expect("decoder.up.1.upsample.conv.bias", {128});
  expect("decoder.up.0.block.3.conv2.weight", {128, 128, 3, 3});
  absent("decoder.up.0.upsample.conv.weight");
  absent("decoder.up.4.block.0.nin_shortcut.weight");
  expect("decoder.norm_out.weight", {128});
  expect("decoder.conv_out.weight", {3, 128, 3, 3});
  expect("decoder.conv_out.bias", {3});
}

TEST(MagvitDecoder, DefaultConfigParameterCountWithRandomWeights) {
  auto state = RandomMagvitDecoderState(MagvitDecoderConfig(), 7);
  auto dec = Unwrap(MagvitDecoder::Create(state, MagvitDecoderConfig(), DeviceOptions{}));
  EXPECT_EQ(dec->NumParameters(), 39947833);
  // One 1x1 code grid through the whole published stack: 16x upsampling.
  auto out = Unwrap(dec->Decode(torch::tensor({int64_t{123}}).view({1, 1})));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, 16, 16}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

// ---------------- Strict loading ----------------
TEST(MagvitDecoder, StrictLoadingNamesEveryProblem) {
  auto state = RandomMagvitDecoderState(SmallConfig(), 1);
  state.tensors.erase("decoder.up.1.block.0.nin_shortcut.weight");
  state.tensors["decoder.mid.attn_1.k.weight"] = torch::zeros({64, 64, 3, 3});
  state.tensors["decoder.up.0.upsample.conv.weight"] = torch::zeros({32, 32, 3, 3});
  auto dec = MagvitDecoder::Create(state, SmallConfig(), DeviceOptions{});
  ASSERT_FALSE(dec.ok());
  const std::string& m = dec.status().message();
  EXPECT_NE(m.find("3 problem"), std::string::npos) << m;
  EXPECT_NE(m.find("missing tensor 'decoder.up.1.block.0.nin_shortcut.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("'decoder.mid.attn_1.k.weight' has shape [64, 64, 3, 3], expected [64, 64, 1, 1]"), std::string::npos)
      << m;
  EXPECT_NE(m.find("unexpected tensor 'decoder.up.0.upsample.conv.weight'"), std::string::npos) << m;
}

TEST(MagvitDecoder, NonFiniteAndNonFloatWeightsAreErrors) {
  auto state = RandomMagvitDecoderState(SmallConfig(), 1);
  state.tensors["decoder.conv_out.weight"][0][0][0][0] = std::nan("");
  state.tensors["decoder.conv_in.bias"] = torch::zeros({64}, torch::kLong);
  auto dec = MagvitDecoder::Create(state, SmallConfig(), DeviceOptions{});
  ASSERT_FALSE(dec.ok());
  EXPECT_NE(dec.status().message().find("'decoder.conv_out.weight' has NaN or Inf"), std::string::npos)
      << dec.status().message();
  EXPECT_NE(dec.status().message().find("'decoder.conv_in.bias' has non-floating dtype"), std::string::npos)
      << dec.status().message();
}

TEST(MagvitDecoder, QuantizerBuffersAreCheckedAndOptional) {
  auto state = RandomMagvitDecoderState(SmallConfig(), 1);
  // Encoder-side tensors are ignored.
  state.tensors["encoder.conv_in.weight"] = torch::zeros({32, 3, 3, 3});
  state.tensors["quant_conv.weight"] = torch::zeros({13, 13, 1, 1});
  EXPECT_TRUE(MagvitDecoder::Create(state, SmallConfig(), DeviceOptions{}).ok());
  auto bad = state;
  bad.tensors["quantize.embedding"] = -LfqCodebook(13);
  bad.tensors["quantize.power_vals"] = torch::arange(13, torch::kLong);
  bad.tensors["quantize.codebook_extra"] = torch::zeros({1});
  bad.tensors["vq_model.something"] = torch::zeros({1});
  auto dec = MagvitDecoder::Create(bad, SmallConfig(), DeviceOptions{});
  ASSERT_FALSE(dec.ok());
  const std::string& m = dec.status().message();
  EXPECT_NE(m.find("'quantize.embedding' differs"), std::string::npos) << m;
  EXPECT_NE(m.find("'quantize.power_vals'"), std::string::npos) << m;
  EXPECT_NE(m.find("'quantize.codebook_extra'"), std::string::npos) << m;
  EXPECT_NE(m.find("'vq_model.something'"), std::string::npos) << m;
  state.tensors.erase("quantize.embedding");
  state.tensors.erase("quantize.power_vals");
  EXPECT_TRUE(MagvitDecoder::Create(state, SmallConfig(), DeviceOptions{}).ok());
}

TEST(MagvitDecoder, BadOptionsAndInputs) {
  auto state = RandomMagvitDecoderState(SmallConfig(), 1);
  DeviceOptions half;
  half.dtype = "float16";
  EXPECT_FALSE(MagvitDecoder::Create(state, SmallConfig(), half).ok());
  DeviceOptions bad_device;
  bad_device.device = "tpu";
  EXPECT_FALSE(MagvitDecoder::Create(state, SmallConfig(), bad_device).ok());
  auto dec = Unwrap(MagvitDecoder::Create(state, SmallConfig(), DeviceOptions{}));
  EXPECT_FALSE(dec->Decode(torch::zeros({1, 5}, torch::kLong)).ok());
  EXPECT_FALSE(dec->Decode(torch::full({1, 4}, 9000, torch::kLong)).ok());
  EXPECT_FALSE(dec->DecodeLatent(torch::zeros({1, 12, 2, 2})).ok());
}

// ---------------- Output conversion ----------------
TEST(MagvitOutput, Uint8TruncatesLikeAstype) {
  // Values chosen in float32 so that clamp((x+1)/2,0,1)*255 lands just below an integer.
  // (x+1)/2 = 0.99999 -> 254.99745 -> 254 (rounding would give 255).
  auto x = torch::tensor({2.f * 0.99999f - 1.f, 1.f, 3.f, -1.f, -7.f, 0.f, 2.f * (100.7f / 255.f) - 1.f})
               .view({1, 1, 1, 7});
  auto img = Unwrap(DecoderOutputToUint8(x));
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{1, 1, 7, 1}));
  ASSERT_EQ(img.scalar_type(), torch::kByte);
  std::vector<int> got;
  for (int i = 0; i < 7; ++i) got.push_back(img[0][0][i][0].item<uint8_t>());
  EXPECT_EQ(got, (std::vector<int>{254, 255, 255, 0, 0, 127, 100}));
  // Channels last: [B, C, H, W] -> [B, H, W, C].
  auto rgb = Unwrap(DecoderOutputToUint8(torch::stack({torch::full({2, 3}, -1.f), torch::zeros({2, 3}),
                                                       torch::ones({2, 3})})
                                             .unsqueeze(0)));
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_EQ(rgb[0][1][2][0].item<uint8_t>(), 0);
  EXPECT_EQ(rgb[0][1][2][1].item<uint8_t>(), 127);
  EXPECT_EQ(rgb[0][1][2][2].item<uint8_t>(), 255);
}

// ---------------- Against the independent Python reference ----------------
// core/showo/testdata/magvit_reference.py builds the small decoder from ordinary torch.nn
// modules with Show-o's attribute names and random weights, and writes the checkpoint in
// the published layout plus expected outputs. It runs at test time (Debian python3-torch);
// without it these tests fail, they do not skip.
class MagvitReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "magvit_ref_" + std::to_string(::getpid()));
    std::filesystem::create_directories(*dir_);
    const std::string script = std::string(MASKGRPO_SOURCE_DIR) + "/core/showo/testdata/magvit_reference.py";
    const std::string log = *dir_ + "/reference.log";
    error_ = new std::string();
    if (!std::filesystem::exists("/usr/bin/python3")) {
      *error_ = "/usr/bin/python3 not found: the MAGVIT reference needs Debian's python3 and python3-torch";
      return;
    }
    const std::string cmd = "/usr/bin/python3 '" + script + "' '" + *dir_ + "' > '" + log + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream in(log);
      std::stringstream ss;
      ss << in.rdbuf();
      *error_ = "running " + script + " failed (it needs /usr/bin/python3 with torch and numpy, e.g. apt-get install "
                "python3-torch):\n" + ss.str();
    }
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
    delete error_;
  }
  void SetUp() override { ASSERT_TRUE(error_->empty()) << *error_; }

  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }
  static TensorFile Expected() { return Unwrap(ReadSafetensors(Path("magvit_small_expected.safetensors"))); }

  static std::string* dir_;
  static std::string* error_;
};
std::string* MagvitReference::dir_ = nullptr;
std::string* MagvitReference::error_ = nullptr;

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

TEST_F(MagvitReference, LatentMatchesPythonCodebookLookup) {
  auto expected = Expected();
  auto z = Unwrap(LfqCodesToLatent(expected.tensors.at("codes")));
  EXPECT_TRUE(torch::equal(z, expected.tensors.at("latent")));
}

TEST_F(MagvitReference, Float32OutputAndUint8Image) {
  auto expected = Expected();
  auto dec = Unwrap(LoadMagvitDecoder(Path("magvit_small_fp32.safetensors"), SmallConfig(), DeviceOptions{}));
  const auto& codes = expected.tensors.at("codes");
  auto out = Unwrap(dec->Decode(codes));
  const auto& ref = expected.tensors.at("output_fp32");
  ASSERT_EQ(out.sizes(), ref.sizes());
  const double diff = MaxAbsDiff(out, ref);
  std::cout << "[ measure ] fp32 max |C++ - Python| = " << diff << " (output range " << ref.min().item<float>() << ".."
            << ref.max().item<float>() << ")\n";
  EXPECT_LT(diff, 1e-4);

  // uint8: exact, except where the reference's float pixel value lies within the float
  // tolerance of an integer: there truncation may fall either way. 1e-4 on the output is
  // 1e-4 * 255/2 = 0.01275 in pixel units.
  auto img = Unwrap(dec->DecodeToUint8(codes));
  const auto& ref_img = expected.tensors.at("image_uint8");
  ASSERT_EQ(img.sizes(), ref_img.sizes());
  // Deep in the clamped range both sides give 0 or 255 exactly, so only unclamped values count.
  const double tol = 1e-4 * 255.0 / 2.0;
  auto v = ((ref.to(torch::kDouble) + 1.0) / 2.0 * 255.0).permute({0, 2, 3, 1});
  auto near_boundary = ((v - v.round()).abs() < tol) & (v > -tol) & (v < 255.0 + tol);
  auto delta = (img.to(torch::kInt) - ref_img.to(torch::kInt)).abs();
  const int64_t mismatches = (delta != 0).sum().item<int64_t>();
  EXPECT_EQ(((delta != 0) & ~near_boundary).sum().item<int64_t>(), 0);
  EXPECT_LE(delta.max().item<int>(), 1);
  std::cout << "[ measure ] uint8 pixels differing from Python: " << mismatches << " of " << img.numel() << " ("
            << near_boundary.sum().item<int64_t>() << " near a boundary)\n";
  // The image is not degenerate: the clamp and a wide range of values are exercised.
  EXPECT_GT((ref_img == 0).sum().item<int64_t>() + (ref_img == 255).sum().item<int64_t>(), 0);
  EXPECT_GT(std::get<0>(at::_unique(ref_img)).numel(), 100);
}

TEST_F(MagvitReference, Float16CheckpointIntoFloat32Decoder) {
  auto expected = Expected();
  auto file = Unwrap(ReadSafetensors(Path("magvit_small_fp16.safetensors")));
  ASSERT_EQ(file.tensors.at("decoder.conv_in.weight").scalar_type(), torch::kHalf);
  auto dec = Unwrap(MagvitDecoder::Create(file, SmallConfig(), DeviceOptions{}));
  EXPECT_EQ(dec->dtype(), torch::kFloat);
  auto out = Unwrap(dec->Decode(expected.tensors.at("codes")));
  const double diff = MaxAbsDiff(out, expected.tensors.at("output_fp16"));
  std::cout << "[ measure ] fp16 weights: max |C++ - Python| = " << diff << ", fp16 vs fp32 weights: "
            << MaxAbsDiff(out, expected.tensors.at("output_fp32")) << "\n";
  EXPECT_LT(diff, 1e-4);
}

TEST_F(MagvitReference, Bfloat16DecoderIsClose) {
  auto expected = Expected();
  DeviceOptions bf16;
  bf16.dtype = "bfloat16";
  auto dec = Unwrap(LoadMagvitDecoder(Path("magvit_small_fp32.safetensors"), SmallConfig(), bf16));
  EXPECT_EQ(dec->dtype(), torch::kBFloat16);
  auto out = Unwrap(dec->Decode(expected.tensors.at("codes")));
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  const auto& ref = expected.tensors.at("output_fp32");
  const double diff = MaxAbsDiff(out, ref);
  const double rel = (out - ref).norm().item<double>() / ref.norm().item<double>();
  std::cout << "[ measure ] bf16 decoder: max |C++ - Python fp32| = " << diff << ", relative L2 = " << rel << "\n";
  EXPECT_LT(rel, 0.05);
}

TEST_F(MagvitReference, BatchedEqualsOneByOne) {
  auto expected = Expected();
  auto dec = Unwrap(LoadMagvitDecoder(Path("magvit_small_fp32.safetensors"), SmallConfig(), DeviceOptions{}));
  const auto& codes = expected.tensors.at("codes");
  auto batched = Unwrap(dec->Decode(codes));
  for (int64_t b = 0; b < codes.size(0); ++b) {
    auto one = Unwrap(dec->Decode(codes.slice(0, b, b + 1)));
    EXPECT_LT(MaxAbsDiff(one, batched.slice(0, b, b + 1)), 1e-5) << "row " << b;
  }
}

TEST_F(MagvitReference, CheckpointKeySetIsExactlyTheLayout) {
  // The Python module tree and our layout agree name for name and shape for shape.
  auto file = Unwrap(ReadSafetensors(Path("magvit_small_fp32.safetensors")));
  std::map<std::string, std::vector<int64_t>> python;
  for (const auto& [name, t] : file.tensors) {
    if (name.rfind("decoder.", 0) == 0) python[name] = t.sizes().vec();
  }
  std::map<std::string, std::vector<int64_t>> ours;
  for (const auto& [name, shape] : MagvitDecoderParameterShapes(SmallConfig())) ours[name] = shape;
  EXPECT_EQ(python, ours);
}

}  // namespace
}  // namespace maskgrpo::showo
