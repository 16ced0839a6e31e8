// Checks the reward-model preprocessing against Pillow and torch themselves: the test runs
// testdata/pillow_reference.py with Debian's python3 (python3-pil, python3-numpy, python3-torch)
// at test time and compares with its outputs. A missing interpreter or module is a FAILURE,
// never a skip: without the reference nothing here is checked.
#include "core/image/clip_preprocess.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include "core/torch_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace maskgrpo {
namespace {

struct Reference {
  std::string dir;
  std::string error;  // non-empty when the Python side could not run
  std::string versions;
  std::map<std::string, RgbImage> images;
  std::vector<std::vector<std::string>> records;  // manifest lines split on spaces
  ~Reference() {
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs the generator once per process (each ctest case is its own process; ~1.5 s).
const Reference& LoadReference() {
  static Reference ref;
  static bool loaded = false;
  if (loaded) return ref;
  loaded = true;
  std::string tmpl = (std::filesystem::temp_directory_path() / "maskgrpo_preprocess_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    ref.error = "cannot create a temporary directory";
    return ref;
  }
  ref.dir = tmpl;
  const std::string script = std::string(MASKGRPO_SOURCE_DIR) + "/core/image/testdata/pillow_reference.py";
  const std::string cmd = "/usr/bin/python3 '" + script + "' '" + ref.dir + "' 2>&1";
  std::string output;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ref.error = "cannot start /usr/bin/python3";
    return ref;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output.append(buf, n);
  const int rc = pclose(p);
  if (rc != 0) {
    ref.error = "the Pillow/torch reference script failed (exit " + std::to_string(rc) +
                "). It needs /usr/bin/python3 with PIL, numpy and torch (Debian: apt-get install python3-pil "
                "python3-numpy python3-torch). Output:\n" + output;
    return ref;
  }
  std::ifstream manifest(ref.dir + "/manifest.txt");
  std::string line;
  while (std::getline(manifest, line)) {
    std::istringstream ls(line);
    std::vector<std::string> fields;
    for (std::string f; ls >> f;) fields.push_back(f);
    if (fields.empty()) continue;
    if (fields[0] == "versions") {
      ref.versions = "Pillow " + fields[1] + ", torch " + fields[2];
    } else if (fields[0] == "image") {
      RgbImage im;
      im.width = std::stoi(fields[2]);
      im.height = std::stoi(fields[3]);
      const std::string bytes = ReadFile(ref.dir + "/" + fields[1] + ".rgb");
      im.rgb.assign(bytes.begin(), bytes.end());
      ref.images[fields[1]] = std::move(im);
    } else {
      ref.records.push_back(fields);
    }
  }
  if (ref.images.empty() || ref.records.empty()) ref.error = "the reference manifest is empty: " + ref.dir;
  return ref;
}

RgbImage LoadRgb(const std::string& path, int w, int h) {
  RgbImage im;
  im.width = w;
  im.height = h;
  const std::string bytes = ReadFile(path);
  im.rgb.assign(bytes.begin(), bytes.end());
  return im;
}

at::Tensor LoadF32(const std::string& path, int64_t size) {
  const std::string bytes = ReadFile(path);
  auto t = torch::empty({3, size, size}, torch::kFloat);
  if (bytes.size() != static_cast<size_t>(t.numel()) * 4) return at::Tensor();
  std::memcpy(t.data_ptr<float>(), bytes.data(), bytes.size());
  return t;
}

struct Diff {
  int max = 0;
  double mean = 0;
  size_t mismatches = 0;
};

Diff Compare(const RgbImage& a, const RgbImage& b) {
  Diff d;
  if (a.rgb.size() != b.rgb.size()) return {255, 255.0, a.rgb.size() + b.rgb.size()};
  double sum = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) {
    const int e = std::abs(int{a.rgb[i]} - int{b.rgb[i]});
    d.max = std::max(d.max, e);
    d.mismatches += e != 0;
    sum += e;
  }
  d.mean = a.rgb.empty() ? 0 : sum / a.rgb.size();
  return d;
}

#define ASSERT_REFERENCE(ref) ASSERT_TRUE((ref).error.empty()) << (ref).error

void CheckPillowFilter(const std::string& filter_name, ResampleFilter filter) {
  const Reference& ref = LoadReference();
  ASSERT_REFERENCE(ref);
  int checked = 0;
  for (const auto& r : ref.records) {
    if (r[0] != "resize" || r[2] != filter_name) continue;
    const int w = std::stoi(r[3]), h = std::stoi(r[4]);
    const RgbImage want = LoadRgb(ref.dir + "/" + r[1] + "." + r[2] + "." + r[3] + "x" + r[4] + ".rgb", w, h);
    ASSERT_TRUE(want.Valid()) << r[1];
    const RgbImage got = PillowResize(ref.images.at(r[1]), w, h, filter);
    ASSERT_EQ(got.width, w);
    ASSERT_EQ(got.height, h);
    const Diff d = Compare(got, want);
    EXPECT_EQ(d.mismatches, 0u) << r[1] << " -> " << w << "x" << h << " " << filter_name << ": max " << d.max
                                << ", mean " << d.mean << " (0-255 units)";
    ++checked;
  }
  EXPECT_GE(checked, 20);
  std::cout << "PillowResize " << filter_name << ": " << checked << " resizes bit-identical to " << ref.versions << "\n";
}

TEST(PillowResizeTest, BicubicIsBitIdenticalToPillow) { CheckPillowFilter("bicubic", ResampleFilter::kBicubic); }

TEST(PillowResizeTest, BilinearIsBitIdenticalToPillow) { CheckPillowFilter("bilinear", ResampleFilter::kBilinear); }

// The figures the issue asks for: how far torch's tensor resizes are from Pillow on the
// 512 -> 224 images. Asserted loosely; the printed numbers are the deliverable.
TEST(PillowResizeTest, ReportsTensorResizeDistanceFromPillow) {
  const Reference& ref = LoadReference();
  ASSERT_REFERENCE(ref);
  for (const std::string name : {"shapes512", "photo512", "mix512"}) {
    const RgbImage& in = ref.images.at(name);
    const RgbImage want = LoadRgb(ref.dir + "/" + name + ".bicubic.224x224.rgb", 224, 224);
    auto x = torch::from_blob(const_cast<uint8_t*>(in.rgb.data()), {1, 512, 512, 3}, torch::kUInt8)
                 .permute({0, 3, 1, 2})
                 .to(torch::kFloat);
    auto to_image = [](const at::Tensor& y) {
      auto u8 = y.round().clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
      RgbImage im;
      im.width = 224;
      im.height = 224;
      im.rgb.assign(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
      return im;
    };
    const Diff ours = Compare(PillowResize(in, 224, 224), want);
    const Diff naive = Compare(to_image(at::upsample_bicubic2d(x, {224, 224}, false)), want);
    const Diff aa = Compare(to_image(at::_upsample_bicubic2d_aa(x, {224, 224}, false)), want);
    std::cout << name << " 512->224 vs Pillow bicubic (0-255): PillowResize max " << ours.max << " mean " << ours.mean
              << "; upsample_bicubic2d (no AA) max " << naive.max << " mean " << naive.mean
              << "; _upsample_bicubic2d_aa (rounded) max " << aa.max << " mean " << aa.mean << "\n";
    EXPECT_EQ(ours.max, 0) << name;
    EXPECT_GT(naive.max, 0) << name << ": a non-antialiased resize cannot equal Pillow's";
  }
}

TEST(ClipPreprocessTest, MatchesPythonPipeline) {
  const Reference& ref = LoadReference();
  ASSERT_REFERENCE(ref);
  int checked = 0;
  double worst = 0;
  for (const auto& r : ref.records) {
    if (r[0] != "clip") continue;
    const int size = std::stoi(r[2]);
    const at::Tensor want = LoadF32(ref.dir + "/" + r[1] + ".clip." + r[2] + ".f32", size);
    ASSERT_TRUE(want.defined()) << r[1];
    ClipPreprocessOptions opt;
    opt.size = size;
    auto got = ClipPreprocess({ref.images.at(r[1])}, opt, DeviceOptions{});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->sizes(), (std::vector<int64_t>{1, 3, size, size}));
    const double err = (got.value()[0] - want).abs().max().item<double>();
    EXPECT_LE(err, 1e-5) << r[1];
    worst = std::max(worst, err);
    ++checked;
  }
  EXPECT_GE(checked, 10);
  std::cout << "ClipPreprocess vs Python (Pillow + torch): " << checked << " images, max abs diff " << worst << "\n";
}

TEST(ClipPreprocessTest, BatchEqualsSingles) {
  const Reference& ref = LoadReference();
  ASSERT_REFERENCE(ref);
  std::vector<RgbImage> batch = {ref.images.at("photo300x200"), ref.images.at("shapes64"),
                                 ref.images.at("mix517x333")};
  auto all = ClipPreprocess(batch, {}, DeviceOptions{});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->sizes(), (std::vector<int64_t>{3, 3, 224, 224}));
  for (size_t i = 0; i < batch.size(); ++i) {
    auto one = ClipPreprocess({batch[i]}, {}, DeviceOptions{});
    ASSERT_TRUE(one.ok());
    EXPECT_TRUE(torch::equal(all.value()[static_cast<int64_t>(i)], one.value()[0])) << i;
  }
}

void CheckHps(bool antialias) {
  const Reference& ref = LoadReference();
  ASSERT_REFERENCE(ref);
  int checked = 0;
  double worst = 0;
  for (const auto& r : ref.records) {
    if (r[0] != "hps" || r[3] != (antialias ? "1" : "0")) continue;
    const RgbImage& im = ref.images.at(r[1]);
    const int size = std::stoi(r[2]);
    const at::Tensor want = LoadF32(ref.dir + "/" + r[1] + ".hps." + r[2] + "." + r[3] + ".f32", size);
    ASSERT_TRUE(want.defined()) << r[1];
    HpsPreprocessOptions opt;
    opt.size = size;
    opt.antialias = antialias;
    auto got = HpsTensorPreprocess({im}, opt, DeviceOptions{});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->sizes(), (std::vector<int64_t>{1, 3, size, size}));
    const double err = (got.value()[0] - want).abs().max().item<double>();
    EXPECT_LE(err, 1e-5) << r[1] << " antialias=" << antialias;
    worst = std::max(worst, err);
    ++checked;
  }
  EXPECT_GE(checked, 10);
  std::cout << "HpsTensorPreprocess (antialias=" << antialias << ") vs torch F.interpolate: " << checked
            << " images, max abs diff " << worst << "\n";
}

TEST(HpsTensorPreprocessTest, MatchesTorchInterpolateAntialiased) { CheckHps(true); }

TEST(HpsTensorPreprocessTest, MatchesTorchInterpolatePlain) { CheckHps(false); }

TEST(HpsTensorPreprocessTest, PadsWithZeroBeforeNormalising) {
  RgbImage wide{300, 200, std::vector<uint8_t>(300 * 200 * 3, 255)};
  auto got = HpsTensorPreprocess({wide}, {}, DeviceOptions{});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  // 300x200 -> 224x149 (round(149.33)); pad_h = 75: 37 rows on top, 38 below.
  const HpsPreprocessOptions opt;
  const float pad_r = (0.f - opt.mean[0]) / opt.std[0];
  EXPECT_FLOAT_EQ(got.value()[0][0][36][100].item<float>(), pad_r);
  EXPECT_FLOAT_EQ(got.value()[0][0][37 + 148 + 1][100].item<float>(), pad_r);
  EXPECT_NEAR(got.value()[0][0][100][100].item<float>(), (1.f - opt.mean[0]) / opt.std[0], 1e-5);
}

TEST(HpsTensorPreprocessTest, RejectsNonSquareImageAlreadyAtSize) {
  RgbImage im{224, 100, std::vector<uint8_t>(224 * 100 * 3, 0)};
  auto got = HpsTensorPreprocess({im}, {}, DeviceOptions{});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("non-square"), std::string::npos) << got.status().message();
}

TEST(PreprocessErrorsTest, NameTheProblem) {
  const RgbImage good{4, 4, std::vector<uint8_t>(48, 7)};
  const RgbImage empty;
  const RgbImage short_bytes{4, 4, std::vector<uint8_t>(47, 7)};
  const RgbImage zero_side{0, 4, {}};
  auto expect_error = [&](const std::vector<RgbImage>& batch, const std::string& needle) {
    auto a = ClipPreprocess(batch, {}, DeviceOptions{});
    auto b = HpsTensorPreprocess(batch, {}, DeviceOptions{});
    ASSERT_FALSE(a.ok()) << needle;
    ASSERT_FALSE(b.ok()) << needle;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find(needle), std::string::npos) << a.status().message();
    EXPECT_NE(b.status().message().find(needle), std::string::npos) << b.status().message();
  };
  expect_error({good, empty}, "image 1 is empty");
  expect_error({short_bytes}, "needs 48 RGB bytes but has 47");
  expect_error({good, good, zero_side}, "image 2 has a zero or negative size (0x4)");
  expect_error({}, "no images");

  ClipPreprocessOptions bad_size;
  bad_size.size = 0;
  EXPECT_FALSE(ClipPreprocess({good}, bad_size, DeviceOptions{}).ok());
  EXPECT_FALSE(ClipPreprocess({good}, {}, DeviceOptions{"cpu", "int8"}).ok());
  EXPECT_FALSE(ClipPreprocess({good}, {}, DeviceOptions{"tpu", "float32"}).ok());

  EXPECT_FALSE(PillowResize(empty, 4, 4).Valid());
  EXPECT_FALSE(PillowResize(short_bytes, 4, 4).Valid());
  EXPECT_FALSE(PillowResize(good, 0, 4).Valid());
}

TEST(PillowResizeTest, SameSizeIsACopy) {
  RgbImage im{3, 2, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}};
  EXPECT_EQ(PillowResize(im, 3, 2).rgb, im.rgb);
}

TEST(ClipPreprocessTest, HonoursDtypeAndDevice) {
  const RgbImage im{40, 30, std::vector<uint8_t>(40 * 30 * 3, 100)};
  auto f32 = ClipPreprocess({im}, {}, DeviceOptions{});
  auto bf16 = ClipPreprocess({im}, {}, DeviceOptions{"cpu", "bfloat16"});
  ASSERT_TRUE(f32.ok() && bf16.ok());
  EXPECT_EQ(bf16->scalar_type(), at::kBFloat16);
  EXPECT_TRUE(torch::allclose(bf16->to(torch::kFloat), *f32, 1e-2, 1e-2));
  if (torch::cuda::is_available()) {
    // Preprocessing stays on the CPU; only the result moves, so CUDA output equals CPU output.
    auto cuda = ClipPreprocess({im}, {}, DeviceOptions{"cuda", "float32"});
    auto hps = HpsTensorPreprocess({im}, {}, DeviceOptions{"cuda", "float32"});
    ASSERT_TRUE(cuda.ok() && hps.ok());
    EXPECT_TRUE(cuda->is_cuda());
    EXPECT_TRUE(torch::equal(cuda->cpu(), *f32));
    auto hps_cpu = HpsTensorPreprocess({im}, {}, DeviceOptions{});
    ASSERT_TRUE(hps_cpu.ok());
    EXPECT_TRUE(torch::equal(hps->cpu(), *hps_cpu));
  }
}

}  // namespace
}  // namespace maskgrpo
