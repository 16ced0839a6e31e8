// Tests of the native torch.save reader against checkpoints written by real PyTorch
// (Debian's python3-torch) at test time. The expected values come from the same script
// as raw little-endian bytes and a JSON manifest, so nothing Python-specific is parsed
// here. python3 with torch is required: without it the tests fail, they never skip.
#include "core/checkpoint/torch_pickle.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/checkpoint/zip_reader.h"
#include "core/json.h"

namespace maskgrpo {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
// Unlinks first: truncating and rewriting an existing file makes ext4 flush it on close
// (auto_da_alloc), which turns the damage loops below into seconds of I/O wait.
void Spit(const std::string& path, const std::string& bytes) {
  std::error_code ec;
  fs::remove(path, ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool DtypeFromName(const std::string& name, at::ScalarType* out) {
  static const std::map<std::string, at::ScalarType> kNames = {
      {"torch.float64", at::kDouble}, {"torch.float32", at::kFloat}, {"torch.float16", at::kHalf},
      {"torch.bfloat16", at::kBFloat16}, {"torch.int64", at::kLong}, {"torch.int32", at::kInt},
      {"torch.int16", at::kShort}, {"torch.int8", at::kChar}, {"torch.uint8", at::kByte},
      {"torch.bool", at::kBool}};
  auto it = kNames.find(name);
  if (it == kNames.end()) return false;
  *out = it->second;
  return true;
}

class TorchCheckpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/maskgrpo_torch_ckpt_XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl) ? tmpl : "");
    script_output_ = new std::string;
    const std::string cmd = "/usr/bin/python3 " MASKGRPO_SOURCE_DIR
                            "/core/checkpoint/testdata/make_torch_checkpoints.py " + *dir_ + " 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) script_output_->append(buf, n);
    script_rc_ = pclose(pipe);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_->empty()) fs::remove_all(*dir_, ec);
    delete dir_;
    delete script_output_;
  }
  void SetUp() override {
    ASSERT_FALSE(dir_->empty()) << "mkdtemp failed";
    ASSERT_EQ(script_rc_, 0)
        << "make_torch_checkpoints.py failed: these tests need /usr/bin/python3 with torch "
           "(Debian package python3-torch) to write reference checkpoints. Output:\n"
        << *script_output_;
    if (!manifest_) {
      auto parsed = Json::Parse(Slurp(Path("manifest.json")));
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      manifest_ = new Json(std::move(parsed).value());
      expected_ = new std::string(Slurp(Path("expected.bin")));
    }
  }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  // Compares names, dtypes, shapes and exact values of `got` with the manifest entry.
  static void ExpectMatches(const std::string& file, const TensorFile& got) {
    const Json* entry = manifest_->Find("files")->Find(file);
    ASSERT_NE(entry, nullptr) << file << " is not in the manifest";
    const auto& tensors = entry->Find("tensors")->as_object();
    std::vector<std::string> want_names, got_names;
    for (const auto& [name, _] : tensors) want_names.push_back(name);
    for (const auto& [name, _] : got.tensors) got_names.push_back(name);
    ASSERT_EQ(got_names, want_names) << file;
    for (const auto& [name, spec] : tensors) {
      SCOPED_TRACE(file + ": " + name);
      const at::Tensor& t = got.tensors.at(name);
      at::ScalarType dtype;
      ASSERT_TRUE(DtypeFromName(spec.Find("dtype")->as_string(), &dtype));
      EXPECT_EQ(t.scalar_type(), dtype);
      EXPECT_TRUE(t.is_contiguous());
      EXPECT_FALSE(t.requires_grad());
      std::vector<int64_t> shape;
      for (const auto& d : spec.Find("shape")->as_array()) shape.push_back(static_cast<int64_t>(d.as_number()));
      ASSERT_EQ(t.sizes().vec(), shape);
      const size_t offset = static_cast<size_t>(spec.Find("offset")->as_number());
      const bool is_float = spec.Find("kind")->as_string() == "f64";
      const size_t nbytes = static_cast<size_t>(t.numel()) * 8;
      ASSERT_LE(offset + nbytes, expected_->size());
      at::Tensor want = at::empty(shape, at::TensorOptions().dtype(is_float ? at::kDouble : at::kLong));
      if (nbytes) std::memcpy(want.data_ptr(), expected_->data() + offset, nbytes);
      at::Tensor have = t.to(is_float ? at::kDouble : at::kLong);
      EXPECT_TRUE(at::equal(have, want)) << "values differ:\n" << have << "\nvs\n" << want;
    }
  }

  static void ExpectError(const std::string& path, const std::string& fragment,
                          const TorchCheckpointOptions& options = {}) {
    auto got = ReadTorchCheckpoint(path, options);
    ASSERT_FALSE(got.ok()) << path << " was read without error";
    EXPECT_NE(got.status().message().find(fragment), std::string::npos)
        << "message lacks '" << fragment << "': " << got.status().message();
    EXPECT_NE(got.status().message().find(path), std::string::npos)
        << "message does not name the file: " << got.status().message();
  }

  static std::string* dir_;
  static std::string* script_output_;
  static int script_rc_;
  static Json* manifest_;
  static std::string* expected_;
};

std::string* TorchCheckpointTest::dir_ = nullptr;
std::string* TorchCheckpointTest::script_output_ = nullptr;
int TorchCheckpointTest::script_rc_ = -1;
Json* TorchCheckpointTest::manifest_ = nullptr;
std::string* TorchCheckpointTest::expected_ = nullptr;

TEST_F(TorchCheckpointTest, StateDictsInThreePrecisions) {
  for (const char* file : {"model_fp32.pt", "model_fp16.pt", "model_bf16.pt"}) {
    auto got = ReadTorchCheckpoint(Path(file));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got->metadata.empty());  // _metadata (module versions) is dropped
    ExpectMatches(file, *got);
  }
}

TEST_F(TorchCheckpointTest, ViewsShareStorageAndTransposesAreCopied) {
  for (const std::string file : {"views.pt", "legacy_views.pt"}) {
    auto got = ReadTorchCheckpoint(Path(file));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectMatches(file, *got);
    for (const auto& pair : manifest_->Find("shared")->as_array()) {
      if (pair.as_array()[0].as_string() != file) continue;
      const auto& a = got->tensors.at(pair.as_array()[1].as_string());
      const auto& b = got->tensors.at(pair.as_array()[2].as_string());
      EXPECT_TRUE(a.is_alias_of(b)) << "contiguous views of one storage should share it";
    }
  }
}

TEST_F(TorchCheckpointTest, LegacyFormat) {
  for (const char* file : {"legacy.pt", "legacy_scalars.pt"}) {
    auto got = ReadTorchCheckpoint(Path(file));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectMatches(file, *got);
  }
  // Truncation anywhere is an error (the storages come last, so this covers them).
  const std::string bytes = Slurp(Path("legacy.pt"));
  const std::string path = Path("legacy_truncated.pt");
  for (size_t n = 0; n < bytes.size(); ++n) {
    Spit(path, bytes.substr(0, n));
    auto got = ReadTorchCheckpoint(path);
    ASSERT_FALSE(got.ok()) << "truncated to " << n << " bytes but read";
    ASSERT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
  }
  Spit(path, bytes.substr(0, bytes.size() - 1));
  ExpectError(path, "truncated");
  // No checksums here: every flipped byte reaches the parser, which must not crash.
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0xFF);
    Spit(path, damaged);
    auto got = ReadTorchCheckpoint(path);
    if (!got.ok()) {
      ASSERT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
    }
  }
}

TEST_F(TorchCheckpointTest, NestedDictsFlattenAndInnerKeySelects) {
  auto all = ReadTorchCheckpoint(Path("nested.pt"));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ExpectMatches("nested.pt", *all);
  EXPECT_TRUE(all->metadata.empty());  // kIgnore is the default

  TorchCheckpointOptions meta;
  meta.non_tensor_leaves = TorchCheckpointOptions::NonTensorLeaves::kMetadata;
  auto with_meta = ReadTorchCheckpoint(Path("nested.pt"), meta);
  ASSERT_TRUE(with_meta.ok()) << with_meta.status().ToString();
  std::map<std::string, std::string> want;
  for (const auto& [k, v] : manifest_->Find("files")->Find("nested.pt")->Find("metadata")->as_object()) {
    want[k] = v.as_string();
  }
  EXPECT_EQ(with_meta->metadata, want);

  TorchCheckpointOptions inner;
  inner.inner_key = "state_dict";
  auto sd = ReadTorchCheckpoint(Path("nested.pt"), inner);
  ASSERT_TRUE(sd.ok()) << sd.status().ToString();
  ExpectMatches("zip64.pt", *sd);  // the plain fp32 state dict of the same model

  inner.inner_key = "model";
  auto missing = ReadTorchCheckpoint(Path("nested.pt"), inner);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no top-level entry 'model'"), std::string::npos);
  EXPECT_NE(missing.status().message().find("state_dict"), std::string::npos);
}

TEST_F(TorchCheckpointTest, ScalarsEmptyTensorsAndOtherDtypes) {
  for (const char* file : {"scalars.pt", "int8.pt", "crafted_ok.pt"}) {
    auto got = ReadTorchCheckpoint(Path(file));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectMatches(file, *got);
  }
  auto got = ReadTorchCheckpoint(Path("scalars.pt"));
  EXPECT_EQ(got->tensors.at("scalar").dim(), 0);
  EXPECT_EQ(got->tensors.at("empty").numel(), 0);
}

TEST_F(TorchCheckpointTest, ParametersBecomePlainTensors) {
  auto got = ReadTorchCheckpoint(Path("params.pt"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectMatches("params.pt", *got);
}

TEST_F(TorchCheckpointTest, Zip64RecordsAndExtraFields) {
  // The rewritten archive saturates every 32-bit size and offset in the central directory,
  // so it can only be read through the ZIP64 extra fields (zip64_extra marks an entry
  // whose fields came from there). torch's own small file has no such fields, though
  // its writer (miniz) always adds a ZIP64 end record and locator.
  auto zip = ZipReader::Open(Path("zip64.pt"));
  ASSERT_TRUE(zip.ok()) << zip.status().ToString();
  EXPECT_TRUE((*zip)->zip64_end_record());
  ASSERT_FALSE((*zip)->entries().empty());
  for (const auto& [name, entry] : (*zip)->entries()) {
    EXPECT_TRUE(entry.zip64_extra) << name;
    auto data = (*zip)->DataOffset(entry);
    ASSERT_TRUE(data.ok());
    EXPECT_EQ(*data % 64, 0u) << name << ": data is 64-byte aligned after the padding field";
  }
  auto plain = ZipReader::Open(Path("model_fp32.pt"));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->zip64_end_record());
  for (const auto& [name, entry] : (*plain)->entries()) EXPECT_FALSE(entry.zip64_extra) << name;

  auto got = ReadTorchCheckpoint(Path("zip64.pt"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectMatches("zip64.pt", *got);
}

TEST_F(TorchCheckpointTest, ConvertToSafetensorsRoundTrips) {
  for (const char* file : {"model_fp32.pt", "model_fp16.pt", "model_bf16.pt", "views.pt", "scalars.pt"}) {
    SCOPED_TRACE(file);
    const std::string out = Path(std::string(file) + ".safetensors");
    Status st = ConvertTorchCheckpointToSafetensors(Path(file), out, {});
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto direct = ReadTorchCheckpoint(Path(file));
    auto converted = ReadSafetensors(out);
    ASSERT_TRUE(direct.ok() && converted.ok()) << converted.status().ToString();
    ASSERT_EQ(direct->tensors.size(), converted->tensors.size());
    for (const auto& [name, t] : direct->tensors) {
      ASSERT_TRUE(converted->tensors.count(name)) << name;
      const at::Tensor& c = converted->tensors.at(name);
      EXPECT_EQ(c.scalar_type(), t.scalar_type()) << name;
      EXPECT_TRUE(at::equal(c, t)) << name;
    }
  }
  // int8 has no safetensors dtype here: the conversion fails and leaves no file.
  const std::string out = Path("int8.safetensors");
  Status st = ConvertTorchCheckpointToSafetensors(Path("int8.pt"), out, {});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unsupported dtype"), std::string::npos) << st.ToString();
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(TorchCheckpointTest, DamagedFilesNameTheProblem) {
  ExpectError(Path("unknown_global.pt"), "unsupported global '__main__.Custom'");
  ExpectError(Path("short_storage.pt"), "bytes, but");
  ExpectError(Path("oob_view.pt"), "lies outside storage '0'");
  ExpectError(Path("huge_expand.pt"), "beyond the 1073741824-byte limit");
  ExpectError(Path("bad_opcode.pt"), "unknown opcode 0xff");
  ExpectError(Path("compressed.pt"), "is compressed");
  ExpectError(Path("big_endian.pt"), "'big' byte order");
  ExpectError(Path("not_a_zip.txt"), "not a zip archive");
  Spit(Path("empty.pt"), "");
  ExpectError(Path("empty.pt"), "empty (0 bytes)");
  ExpectError(Path("does_not_exist.pt"), "cannot open");
  auto missing = ReadTorchCheckpoint(Path("does_not_exist.pt"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(TorchCheckpointTest, EveryTruncationIsAnError) {
  const std::string bytes = Slurp(Path("model_fp32.pt"));
  const std::string path = Path("truncated.pt");
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t n = 0; n < bytes.size(); ++n) {
    Spit(path, bytes.substr(0, n));
    auto got = ReadTorchCheckpoint(path);
    ASSERT_FALSE(got.ok()) << "truncated to " << n << " bytes but read";
    ASSERT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
  }
  Spit(path, bytes.substr(0, bytes.size() - 1));
  ExpectError(path, "not a zip archive");  // the end record is cut
}

TEST_F(TorchCheckpointTest, FlippedBytesInDataPkl) {
  const std::string bytes = Slurp(Path("model_fp32.pt"));
  auto zip = ZipReader::Open(Path("model_fp32.pt"));
  ASSERT_TRUE(zip.ok());
  const ZipEntry* pkl = (*zip)->Find("model_fp32/data.pkl");
  ASSERT_NE(pkl, nullptr);
  auto start = (*zip)->DataOffset(*pkl);
  ASSERT_TRUE(start.ok());
  const std::string path = Path("flipped.pt");

  // With CRC checks (the default) any flipped byte in data.pkl is caught as damage.
  std::string one = bytes;
  one[*start + pkl->size / 2] ^= 0x01;
  Spit(path, one);
  ExpectError(path, "fails its CRC-32 check");

  // Without them the pickle VM itself sees every flip: it may succeed (a flipped digit in
  // a name) but must never crash, and every error names the file.
  TorchCheckpointOptions no_crc;
  no_crc.verify_crc = false;
  int errors = 0;
  for (uint64_t i = 0; i < pkl->size; ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xFF}) {
      std::string damaged = bytes;
      damaged[*start + i] = static_cast<char>(damaged[*start + i] ^ mask);
      Spit(path, damaged);
      auto got = ReadTorchCheckpoint(path, no_crc);
      if (!got.ok()) {
        ++errors;
        ASSERT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
      }
    }
  }
  EXPECT_GT(errors, static_cast<int>(pkl->size));  // most flips break the structure
}

TEST_F(TorchCheckpointTest, FlippedBytesAnywhereNeverCrash) {
  const std::string bytes = Slurp(Path("zip64.pt"));
  const std::string path = Path("flipped_any.pt");
  TorchCheckpointOptions no_crc;
  no_crc.verify_crc = false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0xFF);
    Spit(path, damaged);
    auto got = ReadTorchCheckpoint(path, no_crc);
    if (!got.ok()) {
      ASSERT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
    }
  }
}

TEST(Crc32Test, KnownValue) {
  EXPECT_EQ(Crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(Crc32("", 0), 0u);
  // Incremental use gives the same result.
  EXPECT_EQ(Crc32("6789", 4, Crc32("12345", 5)), 0xCBF43926u);
}

}  // namespace
}  // namespace maskgrpo
