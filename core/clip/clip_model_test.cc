#include "core/clip/clip_model.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/checkpoint/checkpoint_files.h"
#include "core/checkpoint/torch_pickle.h"

namespace maskgrpo::clip {
namespace {

template <typename T>
T Unwrap(StatusOr<T> s) {
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) throw std::runtime_error(s.status().ToString());
  return std::move(s).value();
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kCPU, torch::kDouble) - b.to(torch::kCPU, torch::kDouble)).abs().max().item<double>();
}

// The two configs of testdata/clip_reference.py (CONFIGS). Only what a state dict cannot tell
// is given; every size comes from the file.
ClipConfig HeadsOnly(int64_t vision_heads, int64_t text_heads, const std::string& activation) {
  ClipConfig c;
  c.vision_heads = vision_heads;
  c.text_heads = text_heads;
  c.activation = activation;
  return c;
}
ClipConfig GeluConfig() { return HeadsOnly(4, 4, "gelu"); }
ClipConfig QuickGeluConfig() { return HeadsOnly(2, 8, "quick_gelu"); }
// The same, every size spelled out (must agree with the file).
ClipConfig GeluConfigFull() {
  ClipConfig c = GeluConfig();
  c.embed_dim = 40;
  c.vision_width = 64, c.vision_layers = 2, c.vision_patch_size = 8, c.vision_image_size = 32, c.vision_mlp_width = 256;
  c.text_width = 48, c.text_layers = 2, c.text_context_length = 16, c.text_vocab_size = 100, c.text_mlp_width = 192;
  return c;
}

DeviceOptions Cpu(const std::string& dtype = "float32") {
  DeviceOptions d;
  d.dtype = dtype;
  return d;
}

// ---------------- Against the independent Python reference ----------------
// testdata/clip_reference.py builds the models from torch.nn modules with open_clip's
// names (nn.MultiheadAttention, as open_clip and HPSv2), writes them in both layouts and the
// expected outputs (float64). It runs at test time on Debian's python3-torch; without it
// these tests fail, they do not skip.
class ClipReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "clip_ref_" + std::to_string(::getpid()));
    std::filesystem::create_directories(*dir_);
    const std::string script = std::string(MASKGRPO_SOURCE_DIR) + "/core/clip/testdata/clip_reference.py";
    const std::string log = *dir_ + "/reference.log";
    error_ = new std::string();
    if (!std::filesystem::exists("/usr/bin/python3")) {
      *error_ = "/usr/bin/python3 not found: the CLIP reference needs Debian's python3, python3-numpy and python3-torch";
      return;
    }
    const std::string cmd = "/usr/bin/python3 '" + script + "' '" + *dir_ + "' > '" + log + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream in(log);
      std::stringstream ss;
      ss << in.rdbuf();
      *error_ = "running " + script + " failed (it needs /usr/bin/python3 with torch and numpy, e.g. apt-get install "
                "python3-torch python3-numpy):\n" + ss.str();
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
  static TensorFile Read(const std::string& name) { return Unwrap(ReadWeightsFile(Path(name))); }
  static std::unique_ptr<ClipModel> Load(const std::string& file, const ClipConfig& config,
                                         const std::string& dtype = "float32") {
    return Unwrap(ClipModel::Create(Read(file), config, Cpu(dtype)));
  }

  // Image and text embeddings, logit_scale, per-pair scores and the logits matrix against
  // the Python float64 reference.
  static void ExpectMatches(const ClipModel& model, const std::string& case_name, double tol) {
    const TensorFile e = Unwrap(ReadSafetensors(Path("clip_" + case_name + "_expected.safetensors")));
    const auto& pixels = e.tensors.at("pixels");
    const auto& tokens = e.tensors.at("tokens");
    auto img = Unwrap(model.EncodeImage(pixels));
    auto txt = Unwrap(model.EncodeText(tokens));
    auto scores = Unwrap(model.Similarity(pixels, tokens));
    auto logits = Unwrap(model.Logits(pixels, tokens));
    ASSERT_EQ(img.sizes(), e.tensors.at("image_emb").sizes());
    ASSERT_EQ(txt.sizes(), e.tensors.at("text_emb").sizes());
    const double d_img = MaxAbsDiff(img, e.tensors.at("image_emb"));
    const double d_txt = MaxAbsDiff(txt, e.tensors.at("text_emb"));
    const double d_score = MaxAbsDiff(scores, e.tensors.at("scores"));
    const double d_logits = MaxAbsDiff(logits, e.tensors.at("logits"));
    std::cout << "[ measure ] " << case_name << " " << ClipLayoutName(model.layout()) << " "
              << c10::toString(model.dtype()) << ": max |C++ - Python| image " << d_img << ", text " << d_txt
              << ", scores " << d_score << ", logits " << d_logits << " (embedding scale "
              << e.tensors.at("image_emb").abs().max().item<double>() << ")\n";
    EXPECT_LT(d_img, tol);
    EXPECT_LT(d_txt, tol);
    EXPECT_LT(d_score, tol * 10);  // scores carry exp(logit_scale) ~ 60-90
    EXPECT_LT(d_logits, tol * 10);
    EXPECT_NEAR(model.logit_scale(), e.tensors.at("logit_scale").item<double>(), 1e-6);
  }

  static std::string* dir_;
  static std::string* error_;
};
std::string* ClipReference::dir_ = nullptr;
std::string* ClipReference::error_ = nullptr;

TEST_F(ClipReference, OpenClipGeluMatchesPython) {
  auto model = Load("clip_gelu_openclip.safetensors", GeluConfig());
  EXPECT_EQ(model->layout(), ClipLayout::kOpenClip);
  ExpectMatches(*model, "gelu", 1e-4);
  // Every size was read from the file.
  const ClipConfig& c = model->config();
  EXPECT_EQ(c.embed_dim, 40);
  EXPECT_EQ(c.vision_width, 64);
  EXPECT_EQ(c.vision_layers, 2);
  EXPECT_EQ(c.vision_patch_size, 8);
  EXPECT_EQ(c.vision_image_size, 32);
  EXPECT_EQ(c.vision_mlp_width, 256);
  EXPECT_EQ(c.text_width, 48);
  EXPECT_EQ(c.text_context_length, 16);
  EXPECT_EQ(c.text_vocab_size, 100);
  EXPECT_EQ(c.text_mlp_width, 192);
}

TEST_F(ClipReference, OpenClipQuickGeluMatchesPython) {
  ExpectMatches(*Load("clip_quickgelu_openclip.safetensors", QuickGeluConfig()), "quickgelu", 1e-4);
}

TEST_F(ClipReference, Float64MatchesPythonClosely) {
  // The same arithmetic in float64 on both sides: any formula difference would show far above 1e-9.
  ExpectMatches(*Load("clip_gelu_openclip.safetensors", GeluConfig(), "float64"), "gelu", 1e-9);
  ExpectMatches(*Load("clip_quickgelu_hf.safetensors", QuickGeluConfig(), "float64"), "quickgelu", 1e-9);
}

TEST_F(ClipReference, WrongActivationIsDetectable) {
  // The activation cannot be read from the file; the wrong one gives visibly different numbers.
  auto model = Load("clip_gelu_openclip.safetensors", HeadsOnly(4, 4, "quick_gelu"));
  const TensorFile e = Unwrap(ReadSafetensors(Path("clip_gelu_expected.safetensors")));
  EXPECT_GT(MaxAbsDiff(Unwrap(model->EncodeImage(e.tensors.at("pixels"))), e.tensors.at("image_emb")), 1e-2);
}

TEST_F(ClipReference, HuggingFaceCopyGivesTheSameLogits) {
  for (const auto& [name, config] : {std::pair{std::string("gelu"), GeluConfig()}, {"quickgelu", QuickGeluConfig()}}) {
    auto oc = Load("clip_" + name + "_openclip.safetensors", config);
    auto hf = Load("clip_" + name + "_hf.safetensors", config);  // includes position_ids buffers, ignored
    EXPECT_EQ(hf->layout(), ClipLayout::kHuggingFace);
    ExpectMatches(*hf, name, 1e-4);
    const TensorFile e = Unwrap(ReadSafetensors(Path("clip_" + name + "_expected.safetensors")));
    auto a = Unwrap(oc->Logits(e.tensors.at("pixels"), e.tensors.at("tokens")));
    auto b = Unwrap(hf->Logits(e.tensors.at("pixels"), e.tensors.at("tokens")));
    const double d = MaxAbsDiff(a, b);
    std::cout << "[ measure ] " << name << ": max |open_clip - HF| logits = " << d << "\n";
    EXPECT_LT(d, 1e-5);
    EXPECT_EQ(oc->NumParameters(), hf->NumParameters());
    EXPECT_EQ(oc->config().text_layers, hf->config().text_layers);
  }
}

TEST_F(ClipReference, HuggingFaceNamesAreExactlyTheExpectedOnes) {
  // Python's mapping (convert_clip_original_pytorch_to_hf.py's table) and ClipParameterShapes
  // agree name for name and shape for shape, position_ids aside.
  for (const auto& [name, config] : {std::pair{std::string("gelu"), GeluConfig()}, {"quickgelu", QuickGeluConfig()}}) {
    auto model = Load("clip_" + name + "_openclip.safetensors", config);
    for (auto layout : {ClipLayout::kOpenClip, ClipLayout::kHuggingFace}) {
      const std::string file = "clip_" + name + (layout == ClipLayout::kOpenClip ? "_openclip" : "_hf") + ".safetensors";
      std::map<std::string, std::vector<int64_t>> python, ours;
      for (const auto& [n, t] : Read(file).tensors) {
        if (n.size() < 13 || n.compare(n.size() - 13, 13, ".position_ids") != 0) python[n] = t.sizes().vec();
      }
      for (const auto& [n, s] : Unwrap(ClipParameterShapes(model->config(), layout))) ours[n] = s;
      EXPECT_EQ(python, ours) << file;
    }
  }
}

TEST_F(ClipReference, TorchSaveFilesLoadLikeSafetensors) {
  const TensorFile e = Unwrap(ReadSafetensors(Path("clip_gelu_expected.safetensors")));
  auto st = Load("clip_gelu_openclip.safetensors", GeluConfig());
  auto pt = Load("clip_gelu_openclip.pt", GeluConfig());
  TorchCheckpointOptions hps;
  hps.inner_key = "state_dict";  // HPSv2 ships {'state_dict': ..., ...}
  auto wrapped = Unwrap(ClipModel::Create(Unwrap(ReadTorchCheckpoint(Path("clip_gelu_hpsv2.pt"), hps)), GeluConfig(), Cpu()));
  auto a = Unwrap(st->Logits(e.tensors.at("pixels"), e.tensors.at("tokens")));
  EXPECT_TRUE(at::equal(a, Unwrap(pt->Logits(e.tensors.at("pixels"), e.tensors.at("tokens")))));
  EXPECT_TRUE(at::equal(a, Unwrap(wrapped->Logits(e.tensors.at("pixels"), e.tensors.at("tokens")))));
  ExpectMatches(*pt, "gelu", 1e-4);
  // Without the inner key the wrapper's names are not a CLIP layout, and the error says why.
  auto bad = ClipModel::Create(Read("clip_gelu_hpsv2.pt"), GeluConfig(), Cpu());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("inner_key"), std::string::npos) << bad.status().message();
}

TEST_F(ClipReference, FullConfigMustAgreeWithTheFile) {
  Unwrap(ClipModel::Create(Read("clip_gelu_openclip.safetensors"), GeluConfigFull(), Cpu()));
  ClipConfig wrong = GeluConfigFull();
  wrong.text_layers = 3;
  wrong.vision_image_size = 64;
  auto r = ClipModel::Create(Read("clip_gelu_openclip.safetensors"), wrong, Cpu());
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("text_layers = 3 but the checkpoint has 2"), std::string::npos) << m;
  EXPECT_NE(m.find("vision_image_size = 64 but the checkpoint has 32"), std::string::npos) << m;
  // The ViT-H preset on a small file: the first disagreement named is the width and its tensor.
  auto h = ClipModel::Create(Read("clip_gelu_openclip.safetensors"), ClipConfig::ViTH14(), Cpu());
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("vision_width = 1280 but the checkpoint has 64 (visual.conv1.weight [64, 3, 8, 8])"),
            std::string::npos)
      << h.status().message();
  // Heads that do not divide the width read from the file.
  auto heads = ClipModel::Create(Read("clip_gelu_openclip.safetensors"), HeadsOnly(5, 4, "gelu"), Cpu());
  ASSERT_FALSE(heads.ok());
  EXPECT_NE(heads.status().message().find("vision_heads = 5 does not divide the width 64"), std::string::npos)
      << heads.status().message();
  // Heads are required.
  EXPECT_FALSE(ClipModel::Create(Read("clip_gelu_openclip.safetensors"), HeadsOnly(0, 4, "gelu"), Cpu()).ok());
}

// Strict loading: each kind of problem is named, in both layouts, and all at once.
TEST_F(ClipReference, StrictErrorsNameEveryProblem) {
  struct Case {
    std::string file, missing, misshaped, extra;
  };
  for (const Case& c : {Case{"clip_gelu_openclip.safetensors", "transformer.resblocks.1.attn.out_proj.bias",
                             "visual.transformer.resblocks.0.mlp.c_proj.weight", "visual.transformer.resblocks.0.attn.q_norm.weight"},
                        Case{"clip_gelu_hf.safetensors", "text_model.encoder.layers.1.self_attn.k_proj.weight",
                             "vision_model.encoder.layers.0.mlp.fc2.weight", "vision_model.encoder.layers.0.self_attn.q_norm.weight"}}) {
    const TensorFile good = Read(c.file);
    auto expect_error = [&](const TensorFile& f, const std::vector<std::string>& needles) {
      auto r = ClipModel::Create(f, GeluConfig(), Cpu());
      ASSERT_FALSE(r.ok()) << c.file;
      for (const auto& n : needles) EXPECT_NE(r.status().message().find(n), std::string::npos) << r.status().message();
    };
    TensorFile missing = good;
    missing.tensors.erase(c.missing);
    expect_error(missing, {"missing (1): " + c.missing});
    TensorFile misshaped = good;
    misshaped.tensors[c.misshaped] = misshaped.tensors[c.misshaped].t().contiguous();
    expect_error(misshaped, {c.misshaped + " is [256,64], expected [64,256]"});
    TensorFile extra = good;
    extra.tensors[c.extra] = torch::ones({64});
    expect_error(extra, {"unexpected (1): " + c.extra});
    TensorFile all = missing;
    all.tensors[c.misshaped] = misshaped.tensors[c.misshaped];
    all.tensors[c.extra] = extra.tensors[c.extra];
    expect_error(all, {c.missing, c.misshaped, c.extra});
    TensorFile nan = good;
    nan.tensors[c.misshaped] = nan.tensors[c.misshaped].clone();
    nan.tensors[c.misshaped][0][0] = std::nan("");
    expect_error(nan, {c.misshaped + "' has NaN or Inf"});
  }
  // A missing last block is still a missing tensor list, not a silently shallower model,
  // when the config gives the layer count.
  TensorFile f = Read("clip_gelu_openclip.safetensors");
  for (auto it = f.tensors.begin(); it != f.tensors.end();) {
    it = it->first.rfind("transformer.resblocks.1.", 0) == 0 ? f.tensors.erase(it) : std::next(it);
  }
  auto r = ClipModel::Create(f, GeluConfigFull(), Cpu());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("text_layers = 2 but the checkpoint has 1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("missing (12): transformer.resblocks.1."), std::string::npos) << r.status().message();
  EXPECT_FALSE(ClipModel::Create(TensorFile{}, GeluConfig(), Cpu()).ok());
}

TEST_F(ClipReference, BatchingAndPaddingDoNotChangeResults) {
  auto model = Load("clip_gelu_openclip.safetensors", GeluConfig());
  const TensorFile e = Unwrap(ReadSafetensors(Path("clip_gelu_expected.safetensors")));
  const auto& pixels = e.tensors.at("pixels");
  const auto& tokens = e.tensors.at("tokens");
  auto all = Unwrap(model->EncodeText(tokens));
  auto img = Unwrap(model->EncodeImage(pixels));
  for (int64_t i = 0; i < tokens.size(0); ++i) {
    EXPECT_LT(MaxAbsDiff(Unwrap(model->EncodeText(tokens.narrow(0, i, 1))), all.narrow(0, i, 1)), 1e-5);
    EXPECT_LT(MaxAbsDiff(Unwrap(model->EncodeImage(pixels.narrow(0, i, 1))), img.narrow(0, i, 1)), 1e-5);
  }
  // Row 0 is [SOT, w, EOT, 0...]: causal attention makes it independent of what follows EOT
  // and of a shorter context (open_clip slices the positional rows and the mask).
  auto row = tokens.narrow(0, 0, 1).clone();
  auto shorter = row.narrow(1, 0, 3).contiguous();
  EXPECT_LT(MaxAbsDiff(Unwrap(model->EncodeText(shorter)), all.narrow(0, 0, 1)), 1e-5);
  row.narrow(1, 3, row.size(1) - 3).fill_(7);
  EXPECT_LT(MaxAbsDiff(Unwrap(model->EncodeText(row)), all.narrow(0, 0, 1)), 1e-5);
  // Similarity is exp(logit_scale) * cos: the diagonal of Logits.
  auto logits = Unwrap(model->Logits(pixels, tokens));
  EXPECT_LT(MaxAbsDiff(Unwrap(model->Similarity(pixels, tokens)), logits.diagonal()), 1e-5);
  auto cos = Unwrap(PairCosine(img, all));
  EXPECT_LT(MaxAbsDiff(cos * std::exp(model->logit_scale()), logits.diagonal()), 1e-5);
}

TEST_F(ClipReference, BadInputsAreErrors) {
  auto model = Load("clip_quickgelu_openclip.safetensors", QuickGeluConfig());
  EXPECT_FALSE(model->EncodeImage(torch::zeros({1, 3, 32, 32})).ok());  // image is 16
  EXPECT_FALSE(model->EncodeImage(torch::zeros({1, 1, 16, 16})).ok());
  EXPECT_FALSE(model->EncodeImage(torch::zeros({1, 3, 16, 16}, torch::kLong)).ok());
  EXPECT_FALSE(model->EncodeText(torch::zeros({1, 13}, torch::kLong)).ok());  // context is 12
  EXPECT_FALSE(model->EncodeText(torch::full({1, 4}, 90, torch::kLong)).ok());  // vocab is 90
  EXPECT_FALSE(model->EncodeText(torch::full({1, 4}, -1, torch::kLong)).ok());
  EXPECT_FALSE(model->EncodeText(torch::zeros({1, 4})).ok());
  EXPECT_FALSE(model->Similarity(torch::zeros({2, 3, 16, 16}), torch::zeros({1, 4}, torch::kLong)).ok());
  EXPECT_TRUE(model->EncodeText(torch::zeros({2, 4}, torch::kInt)).ok());
}

TEST_F(ClipReference, BFloat16ModelIsClose) {
  auto model = Load("clip_gelu_openclip.safetensors", GeluConfig(), "bfloat16");
  EXPECT_EQ(model->dtype(), torch::kBFloat16);
  const TensorFile e = Unwrap(ReadSafetensors(Path("clip_gelu_expected.safetensors")));
  auto scores = Unwrap(model->Similarity(e.tensors.at("pixels"), e.tensors.at("tokens")));
  EXPECT_EQ(scores.scalar_type(), torch::kFloat);
  const double d = MaxAbsDiff(scores, e.tensors.at("scores"));
  std::cout << "[ measure ] bf16 model: max |scores - Python fp64| = " << d << " (scores up to "
            << e.tensors.at("scores").abs().max().item<double>() << ")\n";
  EXPECT_LT(d, 0.5);
}

// ---------------- Aesthetic head ----------------
TEST_F(ClipReference, AestheticHeadMatchesPythonAndIsOneAffineMap) {
  const TensorFile e = Unwrap(ReadSafetensors(Path("aesthetic_expected.safetensors")));
  for (const std::string file : {"aesthetic.pth", "aesthetic.safetensors"}) {
    const TensorFile state = Read(file);
    auto head = Unwrap(AestheticHead::Create(state, Cpu()));
    auto scores = Unwrap(head->Score(e.tensors.at("embeddings")));  // raw; Score normalises
    ASSERT_EQ(scores.sizes(), (std::vector<int64_t>{5}));
    const double d = MaxAbsDiff(scores, e.tensors.at("scores"));
    std::cout << "[ measure ] aesthetic " << file << ": max |C++ - Python| = " << d << "\n";
    EXPECT_LT(d, 1e-5);
    EXPECT_LT(MaxAbsDiff(Unwrap(head->Score(e.tensors.at("normalized"))), e.tensors.at("scores")), 1e-5);

    // The product of the five affine maps, collapsed in float64: w = W7 W6 W4 W2 W0, b likewise.
    auto w = torch::eye(768, torch::kDouble);
    auto b = torch::zeros({768}, torch::kDouble);
    for (int i : {0, 2, 4, 6, 7}) {
      auto Wi = state.tensors.at("layers." + std::to_string(i) + ".weight").to(torch::kDouble);
      auto bi = state.tensors.at("layers." + std::to_string(i) + ".bias").to(torch::kDouble);
      w = Wi.matmul(w);
      b = Wi.matmul(b) + bi;
    }
    auto x = e.tensors.at("normalized").to(torch::kDouble);
    auto affine = x.matmul(w.t()).squeeze(-1) + b;
    EXPECT_LT(MaxAbsDiff(Unwrap(head->Forward(x)), affine), 1e-5);
    auto head64 = Unwrap(AestheticHead::Create(state, Cpu("float64")));
    EXPECT_LT(MaxAbsDiff(Unwrap(head64->Forward(x)), affine), 1e-10);
    EXPECT_LT(MaxAbsDiff(Unwrap(head64->Score(e.tensors.at("embeddings"))), e.tensors.at("scores")), 1e-10);
  }
}

TEST_F(ClipReference, AestheticHeadIsStrict) {
  const TensorFile good = Read("aesthetic.pth");
  TensorFile missing = good;
  missing.tensors.erase("layers.6.bias");
  TensorFile misshaped = good;
  misshaped.tensors["layers.2.weight"] = torch::zeros({128, 768});
  TensorFile extra = good;
  extra.tensors["layers.1.weight"] = torch::zeros({1});  // a ReLU/Dropout never has weights
  for (const auto& [f, needle] : {std::pair{missing, std::string("missing (1): layers.6.bias")},
                                  {misshaped, "layers.2.weight is [128,768], expected [128,1024]"},
                                  {extra, "unexpected (1): layers.1.weight"}}) {
    auto r = AestheticHead::Create(f, Cpu());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }
  auto head = Unwrap(AestheticHead::Create(good, Cpu()));
  EXPECT_FALSE(head->Score(torch::zeros({2, 512})).ok());
}

// ---------------- Presets against open_clip's published shapes ----------------
// Parameter count of one tower computed from the spec's shape list (showo-stack.md 4.1),
// independently of ClipParameterShapes: conv1 + class + positions + ln_pre + blocks +
// ln_post + proj, and token + positions + blocks + ln_final + projection. A block is
// 2 LayerNorms (4W) + in_proj (3W^2 + 3W) + out_proj (W^2 + W) + c_fc (W*M + M) + c_proj (M*W + W).
int64_t BlockParams(int64_t w, int64_t m) { return 4 * w + 3 * w * w + 3 * w + w * w + w + w * m + m + m * w + w; }
int64_t VisionParams(int64_t w, int64_t layers, int64_t patch, int64_t image, int64_t mlp, int64_t e) {
  const int64_t grid = image / patch;
  return w * 3 * patch * patch + w + (grid * grid + 1) * w + 2 * w + layers * BlockParams(w, mlp) + 2 * w + w * e;
}
int64_t TextParams(int64_t w, int64_t layers, int64_t ctx, int64_t vocab, int64_t mlp, int64_t e) {
  return vocab * w + ctx * w + layers * BlockParams(w, mlp) + 2 * w + w * e;
}

int64_t Count(const ClipConfig& c, ClipLayout layout, const std::string& prefix_a, const std::string& prefix_b = "\x01") {
  int64_t n = 0;
  for (const auto& [name, shape] : Unwrap(ClipParameterShapes(c, layout))) {
    if (name.rfind(prefix_a, 0) != 0 && name.rfind(prefix_b, 0) != 0) continue;
    int64_t k = 1;
    for (int64_t s : shape) k *= s;
    n += k;
  }
  return n;
}

TEST(ClipPresets, ParameterCountsMatchOpenClip) {
  struct Case {
    ClipConfig config;
    int64_t vision, text, total;  // open_clip's model profile: 632.08M / 354.03M / 986.11M etc.
  };
  for (const Case& c : {Case{ClipConfig::ViTH14(), VisionParams(1280, 32, 14, 224, 5120, 1024),
                             TextParams(1024, 24, 77, 49408, 4096, 1024), 986109441},
                        Case{ClipConfig::ViTL14(), VisionParams(1024, 24, 14, 224, 4096, 768),
                             TextParams(768, 12, 77, 49408, 3072, 768), 427616513},
                        Case{ClipConfig::ViTB32(), VisionParams(768, 12, 32, 224, 3072, 512),
                             TextParams(512, 12, 77, 49408, 2048, 512), 151277313}}) {
    EXPECT_EQ(Count(c.config, ClipLayout::kOpenClip, "visual."), c.vision);
    EXPECT_EQ(Count(c.config, ClipLayout::kOpenClip, "", ""), c.total);
    EXPECT_EQ(c.vision + c.text + 1, c.total);  // + logit_scale
    EXPECT_EQ(Count(c.config, ClipLayout::kHuggingFace, "vision_model.", "visual_projection."), c.vision);
    EXPECT_EQ(Count(c.config, ClipLayout::kHuggingFace, "text_model.", "text_projection."), c.text);
  }
  // Spot shapes from the spec's ViT-H-14 list.
  std::map<std::string, std::vector<int64_t>> h;
  for (const auto& [n, s] : Unwrap(ClipParameterShapes(ClipConfig::ViTH14(), ClipLayout::kOpenClip))) h[n] = s;
  // conv1, class, positions, ln_pre x2, 32 blocks x 12, ln_post x2, proj; token, positions,
  // 24 blocks x 12, ln_final x2, text_projection; logit_scale.
  EXPECT_EQ(h.size(), 3u + 2 + 32 * 12 + 2 + 1 + 2 + 24 * 12 + 2 + 1 + 1);
  EXPECT_EQ(h.at("visual.conv1.weight"), (std::vector<int64_t>{1280, 3, 14, 14}));
  EXPECT_EQ(h.at("visual.positional_embedding"), (std::vector<int64_t>{257, 1280}));
  EXPECT_EQ(h.at("visual.transformer.resblocks.31.attn.in_proj_weight"), (std::vector<int64_t>{3840, 1280}));
  EXPECT_EQ(h.at("visual.transformer.resblocks.0.mlp.c_fc.weight"), (std::vector<int64_t>{5120, 1280}));
  EXPECT_EQ(h.at("visual.proj"), (std::vector<int64_t>{1280, 1024}));
  EXPECT_EQ(h.at("token_embedding.weight"), (std::vector<int64_t>{49408, 1024}));
  EXPECT_EQ(h.at("transformer.resblocks.23.mlp.c_proj.weight"), (std::vector<int64_t>{1024, 4096}));
  EXPECT_EQ(h.at("text_projection"), (std::vector<int64_t>{1024, 1024}));
  EXPECT_EQ(h.at("logit_scale"), (std::vector<int64_t>{}));
  std::map<std::string, std::vector<int64_t>> l;
  for (const auto& [n, s] : Unwrap(ClipParameterShapes(ClipConfig::ViTL14(), ClipLayout::kHuggingFace))) l[n] = s;
  EXPECT_EQ(l.at("visual_projection.weight"), (std::vector<int64_t>{768, 1024}));  // transposed
  EXPECT_EQ(l.at("text_projection.weight"), (std::vector<int64_t>{768, 768}));
  EXPECT_EQ(l.at("vision_model.pre_layrnorm.weight"), (std::vector<int64_t>{1024}));
  EXPECT_EQ(l.at("text_model.encoder.layers.11.self_attn.q_proj.weight"), (std::vector<int64_t>{768, 768}));
}

TEST(ClipPresets, Activations) {
  // laion ViT-H-14 uses nn.GELU (erf); OpenAI's weights (ViT-L/14, B/32) QuickGELU.
  EXPECT_EQ(ClipConfig::ViTH14().activation, "gelu");
  EXPECT_EQ(ClipConfig::ViTL14().activation, "quick_gelu");
  EXPECT_EQ(ClipConfig::ViTB32().activation, "quick_gelu");
  EXPECT_EQ(ClipConfig::ViTL14("gelu").activation, "gelu");  // a separate choice from the shapes
  EXPECT_EQ(ClipConfig::ViTH14().vision_heads, 16);          // 1280 / head_width 80
  EXPECT_EQ(ClipConfig::ViTH14().text_heads, 16);
  EXPECT_EQ(ClipConfig::ViTL14().text_heads, 12);
  EXPECT_TRUE(ClipConfig::ViTH14().Validate().ok());
  ClipConfig bad = ClipConfig::ViTH14();
  bad.activation = "relu";
  EXPECT_FALSE(bad.Validate().ok());
  EXPECT_FALSE(DetectClipLayout(TensorFile{}).ok());
}

}  // namespace
}  // namespace maskgrpo::clip
