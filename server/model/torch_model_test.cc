// Tests of the LibTorch runtime against the original Python network (golden
// data made at build time by testing/make_golden.py), plus blending, sizes,
// precisions and every error case. Test archives live in
// $STYLIZER_BUILD_DIR/testdata/.
#include "server/model/torch_model.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model/torch_util.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;

std::string BuildDir() {
  const char* dir = std::getenv("STYLIZER_BUILD_DIR");
  return dir != nullptr ? dir : "build";
}
std::string TestData(const std::string& name) {
  return absl::StrCat(BuildDir(), "/testdata/", name);
}
std::string Golden(const std::string& name) {
  return absl::StrCat(BuildDir(), "/testdata/model_golden/", name);
}

std::vector<char> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

TorchModelOptions Fp32Options(const std::string& archive) {
  TorchModelOptions options;
  options.archive_path = archive;
  options.device = "cpu";
  options.precision = "fp32";
  options.warmup_side = 16;
  options.threads = 1;  // robust on a busy machine; speed is measured in bench/
  options.log = [](absl::string_view line) {
    if (std::getenv("STYLIZER_TEST_VERBOSE")) std::cerr << line << std::endl;
  };
  return options;
}

// A deterministic frame pattern: B frames of h x w RGB.
std::vector<uint8_t> Frames(int b, int h, int w, int seed = 0) {
  std::vector<uint8_t> v(static_cast<size_t>(b) * h * w * 3);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<uint8_t>((i * 2654435761u + seed * 97) >> 13);
  }
  return v;
}

std::vector<float> OneHot(int num_styles, std::vector<int> styles,
                          float scale = 1.0f) {
  std::vector<float> w(styles.size() * num_styles, 0.0f);
  for (size_t i = 0; i < styles.size(); ++i)
    w[i * num_styles + styles[i]] = scale;
  return w;
}

// Max abs difference between two equally long 8-bit buffers (b at offset).
int MaxDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
            size_t offset = 0) {
  int max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(int{a[i]} - int{b[offset + i]}));
  }
  return max_diff;
}

class TorchModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = TorchModel::Create(Fp32Options(TestData("random4.pt")));
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = model->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }

  // Stylizes frames with weights; returns the output.
  static std::vector<uint8_t> Run(const std::vector<uint8_t>& frames, int b,
                                  int h, int w,
                                  const std::vector<float>& weights) {
    std::vector<uint8_t> out(frames.size(), 0);
    FrameBatch batch{b, h, w, frames.data(), weights.data(), out.data()};
    absl::Status s = model_->Stylize(batch);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  static TorchModel* model_;
};
TorchModel* TorchModelTest::model_ = nullptr;

TEST_F(TorchModelTest, DescribesTheArchive) {
  const ModelDescription& d = model_->description();
  EXPECT_EQ(d.name, "random4");
  EXPECT_THAT(d.style_names,
              ::testing::ElementsAre("klimt", "mosaic", "outcry", "picasso"));
  EXPECT_EQ(d.device, "cpu");
  EXPECT_EQ(d.precision, "fp32");
  EXPECT_THAT(d.model_json, HasSubstr("dumoulin2017"));
  EXPECT_EQ(model_->num_styles(), 4);
  EXPECT_THAT(model_->selection_note(), HasSubstr("fp32"));
}

// The runtime equals the original network (eager PyTorch) within one 8-bit
// level, for one-hot rows, an odd size (pad + crop), a blend, flat frames
// (black, a fade: they came out as full-contrast texture) and frames whose
// spread is tiny beside their mean.
TEST_F(TorchModelTest, MatchesOriginalNetwork) {
  std::ifstream manifest(Golden("manifest.txt"));
  ASSERT_TRUE(manifest.good()) << "missing " << Golden("manifest.txt")
                               << "; build target stylizer_model_golden";
  std::string word;
  int num_styles = 0;
  manifest >> word >> num_styles;
  ASSERT_EQ(num_styles, 4);
  std::string name;
  int b, h, w, cases = 0;
  while (manifest >> name >> b >> h >> w) {
    SCOPED_TRACE(name);
    ++cases;
    const std::vector<char> in = ReadFile(Golden(name + ".input"));
    const std::vector<char> weights_raw = ReadFile(Golden(name + ".weights"));
    const std::vector<char> expected = ReadFile(Golden(name + ".expected"));
    ASSERT_EQ(in.size(), static_cast<size_t>(b) * h * w * 3);
    ASSERT_EQ(expected.size(), in.size());
    ASSERT_EQ(weights_raw.size(), sizeof(float) * b * num_styles);
    std::vector<float> weights(b * num_styles);
    std::memcpy(weights.data(), weights_raw.data(), weights_raw.size());
    const std::vector<uint8_t> frames(in.begin(), in.end());
    const std::vector<uint8_t> out = Run(frames, b, h, w, weights);
    int max_diff = 0;
    size_t exact = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      const int d =
          std::abs(int{out[i]} - int{static_cast<uint8_t>(expected[i])});
      max_diff = std::max(max_diff, d);
      exact += d == 0;
    }
    EXPECT_LE(max_diff, 1);
    // Most levels are exact. Not 99 %: LibTorch 2.11's CPU kernels on a CPU
    // without AVX-512 rounded 2.1 % of the low-contrast frame's levels the
    // other way (97.9 % exact), where the instance norm magnifies the
    // smallest differences; LibTorch 1.13 and AVX-512 machines gave 99 % or
    // more. The bound that matters is one level.
    EXPECT_GE(static_cast<double>(exact) / out.size(), 0.95);
  }
  EXPECT_EQ(cases, 5);
}

TEST_F(TorchModelTest, OneHotBlendEqualsIndexAndBatchesAreIndependent) {
  const int h = 40, w = 36;
  const std::vector<uint8_t> frame = Frames(1, h, w);
  std::vector<uint8_t> three;
  for (int i = 0; i < 3; ++i)
    three.insert(three.end(), frame.begin(), frame.end());
  // Styles 2, 0 and 2 (scaled by 7: rows need not sum to 1).
  std::vector<float> rows = OneHot(4, {2, 0, 2});
  for (int i = 8; i < 12; ++i) rows[i] *= 7.0f;
  const std::vector<uint8_t> batch = Run(three, 3, h, w, rows);
  const std::vector<uint8_t> alone2 = Run(frame, 1, h, w, OneHot(4, {2}));
  const std::vector<uint8_t> alone0 = Run(frame, 1, h, w, OneHot(4, {0}));
  const size_t n = frame.size();
  // Convolution kernels may sum in another order for another batch size:
  // equal up to rounding.
  EXPECT_LE(MaxDiff(alone2, batch, 0), 1);
  EXPECT_LE(MaxDiff(alone0, batch, n), 1);
  EXPECT_LE(MaxDiff(alone2, batch, 2 * n), 1);
  EXPECT_GT(MaxDiff(alone0, alone2), 10);
  // An even blend of styles 0 and 2 is neither.
  const std::vector<uint8_t> blend = Run(frame, 1, h, w, {1, 0, 1, 0});
  EXPECT_GT(MaxDiff(blend, alone0), 5);
  EXPECT_GT(MaxDiff(blend, alone2), 5);
}

// Rows are normalised in double: in float the sum of two FLT_MAX weights
// was inf, the row became 0, and the network's own normalisation 0/0 = NaN.
TEST_F(TorchModelTest, HugeWeightsAreNormalisedLikeSmallOnes) {
  const int h = 40, w = 36;
  const std::vector<uint8_t> frame = Frames(1, h, w);
  const float big = std::numeric_limits<float>::max();
  const std::vector<uint8_t> huge = Run(frame, 1, h, w, {big, 0, big, 0});
  const std::vector<uint8_t> even = Run(frame, 1, h, w, {1, 0, 1, 0});
  EXPECT_EQ(huge, even);
}

TEST_F(TorchModelTest, AnySizeComesBackAtItsSize) {
  for (auto [h, w] : std::vector<std::pair<int, int>>{
           {178, 318}, {1, 1}, {3, 5}, {7, 2}, {9, 13}}) {
    SCOPED_TRACE(absl::StrCat(w, "x", h));
    const std::vector<uint8_t> frames = Frames(2, h, w);
    const size_t bytes = frames.size();
    // Canary bytes after the output catch writes past the end.
    std::vector<uint8_t> out(bytes + 64, 0xA5);
    const std::vector<float> weights = OneHot(4, {1, 3});
    FrameBatch batch{2, h, w, frames.data(), weights.data(), out.data()};
    ASSERT_TRUE(model_->Stylize(batch).ok());
    for (size_t i = bytes; i < out.size(); ++i) ASSERT_EQ(out[i], 0xA5);
  }
}

TEST_F(TorchModelTest, OutputMayAliasInput) {
  const int h = 20, w = 24;
  std::vector<uint8_t> frames = Frames(1, h, w, 5);
  const std::vector<float> weights = OneHot(4, {3});
  const std::vector<uint8_t> expected = Run(frames, 1, h, w, weights);
  FrameBatch batch{1, h, w, frames.data(), weights.data(), frames.data()};
  ASSERT_TRUE(model_->Stylize(batch).ok());
  EXPECT_EQ(frames, expected);
}

TEST_F(TorchModelTest, RejectsBadWeightsAndBatches) {
  const std::vector<uint8_t> frames = Frames(2, 16, 16);
  std::vector<uint8_t> out(frames.size());
  const float nan = std::nanf("");
  for (const std::vector<float>& weights :
       std::vector<std::vector<float>>{{1, 0, 0, 0, 0, -1, 1, 0},   // negative
                                       {1, 0, 0, 0, 0, 0, 0, 0},    // all zero
                                       {1, 0, 0, 0, nan, 1, 0, 0},  // NaN
                                       {1, 0, 0, 0, INFINITY, 0, 0, 0}}) {
    FrameBatch batch{2, 16, 16, frames.data(), weights.data(), out.data()};
    absl::Status s = model_->Stylize(batch);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr("frame 1"));
  }
  const std::vector<float> ok = OneHot(4, {0, 0});
  for (FrameBatch batch :
       {FrameBatch{0, 16, 16, frames.data(), ok.data(), out.data()},
        FrameBatch{2, 0, 16, frames.data(), ok.data(), out.data()},
        FrameBatch{2, 16, -3, frames.data(), ok.data(), out.data()},
        FrameBatch{2, 16, 16, nullptr, ok.data(), out.data()},
        FrameBatch{2, 16, 16, frames.data(), nullptr, out.data()},
        FrameBatch{2, 16, 16, frames.data(), ok.data(), nullptr}}) {
    EXPECT_EQ(model_->Stylize(batch).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// Low precisions stay within 35 dB PSNR of fp32.
TEST_F(TorchModelTest, Bf16StaysCloseToFp32) {
  TorchModelOptions options = Fp32Options(TestData("random4.pt"));
  options.precision = "bf16";
  auto bf16 = TorchModel::Create(options);
  if (!bf16.ok()) GTEST_SKIP() << "bf16 unavailable here: " << bf16.status();
  EXPECT_EQ((*bf16)->description().precision, "bf16");
  const int h = 96, w = 128;
  const std::vector<uint8_t> frames = Frames(2, h, w, 9);
  const std::vector<float> weights = {1, 0, 0, 0, 0.2f, 0.3f, 0, 0.5f};
  const std::vector<uint8_t> reference = Run(frames, 2, h, w, weights);
  std::vector<uint8_t> out(frames.size());
  FrameBatch batch{2, h, w, frames.data(), weights.data(), out.data()};
  ASSERT_TRUE((*bf16)->Stylize(batch).ok());
  double mse = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double d = static_cast<double>(out[i]) - reference[i];
    mse += d * d;
  }
  mse /= out.size();
  const double psnr = mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
  EXPECT_GE(psnr, 35.0);
  RecordProperty("bf16_psnr_db", std::to_string(psnr));
}

TEST(TorchModelCreateTest, AutoPicksAPrecisionAndSaysWhy) {
  TorchModelOptions options = Fp32Options(TestData("random4.pt"));
  options.precision = "auto";
  options.device = "auto";
  std::vector<std::string> lines;
  options.log = [&](absl::string_view line) { lines.emplace_back(line); };
  auto model = TorchModel::Create(options);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string& precision = (*model)->description().precision;
  EXPECT_TRUE(precision == "fp32" || precision == "bf16" ||
              precision == "fp16");
  EXPECT_THAT((*model)->selection_note(), HasSubstr("auto"));
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.back(), HasSubstr(absl::StrCat("precision ", precision)));
}

absl::Status CreateStatus(const TorchModelOptions& options);

// --device=cuda without a usable GPU fails before the archive is loaded,
// saying what is missing (a CPU-only LibTorch, or no driver/visible GPU).
TEST(TorchModelCreateTest, CudaWithoutAGpuFailsSayingWhy) {
  TorchModelOptions options = Fp32Options(TestData("random4.pt"));
  options.device = "cuda";
  absl::Status s = CreateStatus(options);
  if (s.ok()) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("sees 0 usable CUDA device(s)"));
  EXPECT_THAT(s.message(), HasSubstr("--device=cpu"));
  options.archive_path = TestData("no-such-model.pt");  // device checked first
  EXPECT_EQ(CreateStatus(options).code(),
            absl::StatusCode::kFailedPrecondition);
}

// --device=cuda and auto stand for every visible GPU (one model instance
// each); a named device, or a machine without a usable GPU, gives one.
TEST(TorchModelDevicesTest, CudaAndAutoExpandToEveryVisibleGpu) {
  EXPECT_EQ(TorchModel::ExpandDevices("cpu"), std::vector<std::string>{"cpu"});
  EXPECT_EQ(TorchModel::ExpandDevices("cuda:1"),
            std::vector<std::string>{"cuda:1"});
  EXPECT_EQ(TorchModel::ExpandDevices("cuda:x"),
            std::vector<std::string>{"cuda:x"});  // Create says why
  const std::vector<std::string> all = TorchModel::ExpandDevices("cuda");
  EXPECT_EQ(TorchModel::ExpandDevices("auto").size(), all.size());
  if (all == std::vector<std::string>{"cuda"}) return;  // no usable GPU
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i], "cuda:" + std::to_string(i));
  }
}

// On a CPU without native bf16 (a 2-core AVX2 machine, described to the
// runtime), auto does not try bf16 at all and logs why: bf16 emulation took
// 35x the time of fp32 there and delayed start-up by minutes.
TEST(TorchModelCreateTest, AutoSkipsBf16WithoutNativeSupport) {
  TorchModelOptions options = Fp32Options(TestData("random4.pt"));
  options.precision = "auto";
  options.cpu_features = CpuFeatures{};  // AVX2 only
  std::vector<std::string> lines;
  options.log = [&](absl::string_view line) { lines.emplace_back(line); };
  auto model = TorchModel::Create(options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->description().precision, "fp32");
  EXPECT_THAT((*model)->selection_note(),
              HasSubstr("bf16 skipped: no native bf16"));
  const std::string& note = (*model)->selection_note();
  EXPECT_EQ(note.find("CPU-ms"), note.rfind("CPU-ms"))
      << "more than one trial: " << note;
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.front(), HasSubstr("bf16 skipped"));
}

// A candidate past its time budget is stopped and ranked last; fp32, the
// reference, always runs to the end.
TEST(TorchModelCreateTest, TrialPastItsBudgetIsAbandoned) {
  TorchModelOptions options = Fp32Options(TestData("random4.pt"));
  options.precision = "auto";
  CpuFeatures bf16_cpu;
  bf16_cpu.avx512_bf16 = true;
  options.cpu_features = bf16_cpu;
  options.precision = "bf16";
  if (!TorchModel::Create(options).ok()) GTEST_SKIP() << "no bf16 here";
  options.precision = "auto";
  options.trial_budget_seconds = 0;
  options.trial_budget_vs_fp32 = 0;
  auto model = TorchModel::Create(options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->description().precision, "fp32");
  EXPECT_THAT((*model)->selection_note(),
              HasSubstr("abandoned past its 0.0 s budget"));
  options.trial_budget_seconds = -1;
  EXPECT_EQ(CreateStatus(options).code(), absl::StatusCode::kInvalidArgument);
}

absl::Status CreateStatus(const TorchModelOptions& options) {
  return TorchModel::Create(options).status();
}

TEST(TorchModelCreateTest, MissingArchive) {
  absl::Status s = CreateStatus(Fp32Options(TestData("no-such-model.pt")));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("export_seed.py"));
  EXPECT_EQ(CreateStatus(Fp32Options("")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateStatus(Fp32Options(BuildDir() + "/testdata")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TorchModelCreateTest, CorruptAndTruncatedArchives) {
  const std::string garbage = TestData("model_test_garbage.pt");
  std::ofstream(garbage, std::ios::binary)
      << "this is not a TorchScript archive";
  absl::Status s = CreateStatus(Fp32Options(garbage));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("corrupt"));

  const std::vector<char> good = ReadFile(TestData("random4.pt"));
  const std::string truncated = TestData("model_test_truncated.pt");
  std::ofstream(truncated, std::ios::binary)
      .write(good.data(), good.size() / 2);
  s = CreateStatus(Fp32Options(truncated));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

// Bytes the caller read are loaded instead of the file (which may be gone
// by then), and the caller's digest is reported; bad bytes are refused like
// a bad file, named by the path.
TEST(TorchModelCreateTest, LoadsTheBytesTheCallerRead) {
  const std::vector<char> good = ReadFile(TestData("random4.pt"));
  TorchModelOptions options = Fp32Options(TestData("gone-by-now.pt"));
  options.archive_bytes =
      std::make_shared<const std::string>(good.begin(), good.end());
  options.archive_sha256 = "ab12";
  auto model = TorchModel::Create(options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->description().name, "random4");
  EXPECT_EQ((*model)->description().style_names.size(), 4u);
  EXPECT_EQ((*model)->description().archive_sha256, "ab12");

  options.archive_bytes = std::make_shared<const std::string>(
      good.begin(), good.begin() + good.size() / 2);
  absl::Status s = CreateStatus(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("gone-by-now.pt"));
}

// An archive damaged inside its weights (64 bytes changed at a third, half
// and two thirds of it) still parses as TorchScript: LibTorch's zip reader
// skips the members' CRC-32, and the model loaded with wrong weights. It is
// refused, from a file and from the caller's bytes, naming the member.
TEST(TorchModelCreateTest, AnArchiveDamagedInItsWeightsIsRefused) {
  std::vector<char> damaged = ReadFile(TestData("random4.pt"));
  ASSERT_GT(damaged.size(), 1000u);
  const size_t size = damaged.size();
  for (size_t at : {size / 3, size / 2, size * 2 / 3}) {
    for (size_t i = 0; i < 64; ++i) damaged[at + i] ^= 0x5A;
  }
  const std::string path = TestData("model_test_damaged.pt");
  std::ofstream(path, std::ios::binary).write(damaged.data(), damaged.size());
  TorchModelOptions from_bytes = Fp32Options(TestData("gone-by-now.pt"));
  from_bytes.archive_bytes =
      std::make_shared<const std::string>(damaged.begin(), damaged.end());
  for (const TorchModelOptions& options : {Fp32Options(path), from_bytes}) {
    absl::Status s = CreateStatus(options);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(
        std::string(s.message()),
        ::testing::ContainsRegex(absl::StrCat(
            "^model archive ", options.archive_path,
            " is damaged: member \"archive/data/[0-9]+\" fails its CRC-32 "
            "check \\(stored 0x[0-9a-f]{8}, its bytes give 0x[0-9a-f]{8}\\); "
            "copy the file again, or re-export it with "
            "training/export_seed.py$")));
  }
}

TEST(TorchModelCreateTest, BrokenMetadataAndInterfaces) {
  struct Case {
    const char* file;
    const char* message;
  };
  for (const Case& c :
       {Case{"no_styles.pt", "styles.json"},
        Case{"zero_styles.pt", "zero styles"},
        Case{"fewer_styles.pt", "3 styles"}, Case{"wrong_output.pt", "shape"},
        Case{"out_of_range.pt", "outside [0,1]"}}) {
    absl::Status s = CreateStatus(Fp32Options(Golden(c.file)));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
        << c.file << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.file;
  }
}

// An explicit --precision=bf16 ran no fp32 trial, and only the fp32 trial
// checked the range: a module whose values are outside [0,1] was served
// (white frames), where fp32 refused it.
TEST(TorchModelCreateTest, EveryPrecisionChecksTheOutputRange) {
  TorchModelOptions options = Fp32Options(Golden("out_of_range.pt"));
  CpuFeatures bf16_cpu;
  bf16_cpu.avx512_bf16 = true;
  options.cpu_features = bf16_cpu;
  options.precision = "bf16";
  absl::Status s = CreateStatus(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("outside [0,1]"));
  EXPECT_THAT(s.message(), HasSubstr("bf16"));
}

// Only a candidate's first call could fail it: a bf16 kernel that threw on
// a later trial call failed the whole load (INTERNAL), where the documented
// rule drops the candidate and serves fp32.
TEST(TorchModelCreateTest, ACandidateFailingOnALaterCallIsDropped) {
  TorchModelOptions options = Fp32Options(Golden("bf16_fails_later.pt"));
  CpuFeatures bf16_cpu;
  bf16_cpu.avx512_bf16 = true;
  options.cpu_features = bf16_cpu;
  options.precision = "auto";
  auto model = TorchModel::Create(options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->description().precision, "fp32");
  EXPECT_THAT((*model)->selection_note(), HasSubstr("bf16 unsupported"));
  // Asked for by name, it fails the load with the reason.
  options.precision = "bf16";
  absl::Status s = CreateStatus(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("second call"));
}

TEST(TorchModelCreateTest, BadOptions) {
  TorchModelOptions options = Fp32Options(TestData("random4.pt"));
  options.device = "tpu";
  EXPECT_EQ(CreateStatus(options).code(), absl::StatusCode::kInvalidArgument);
  options.device = "cuda:x";
  EXPECT_EQ(CreateStatus(options).code(), absl::StatusCode::kInvalidArgument);
  options.device = "cuda:7";
  EXPECT_NE(CreateStatus(options).code(), absl::StatusCode::kOk);
  options.device = "cpu";
  options.precision = "fp8";
  EXPECT_EQ(CreateStatus(options).code(), absl::StatusCode::kInvalidArgument);
  options.precision = "fp16";
  options.cpu_features = CpuFeatures{};  // no fp16 instructions
  absl::Status s = CreateStatus(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("CUDA"));
  options.precision = "fp32";
  options.threads = -1;
  EXPECT_EQ(CreateStatus(options).code(), absl::StatusCode::kInvalidArgument);
}

// Runs a frame far too large for a capped address space; exits 0 when
// Stylize returned ResourceExhausted.
void StylizeUnderMemoryCap() {
  auto model = TorchModel::Create(Fp32Options(TestData("random4.pt")));
  if (!model.ok()) std::exit(2);
  const int h = 3000, w = 3000;  // 32 x 9 M floats per activation
  std::vector<uint8_t> frames(static_cast<size_t>(h) * w * 3, 128);
  const std::vector<float> weights = OneHot(4, {0});
  // Cap the address space at what is mapped now plus 600 MB.
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  statm >> pages;
  rlimit limit;
  getrlimit(RLIMIT_AS, &limit);
  limit.rlim_cur = pages * 4096 + (600ull << 20);
  setrlimit(RLIMIT_AS, &limit);
  FrameBatch batch{1, h, w, frames.data(), weights.data(), frames.data()};
  absl::Status s = (*model)->Stylize(batch);
  std::cerr << s << std::endl;
  std::exit(s.code() == absl::StatusCode::kResourceExhausted ? 0 : 3);
}

// cuBLAS and cuDNN allocate outside the caching allocator; their failures
// are out of memory too (ResourceExhausted, with the batch split), not
// INTERNAL.
TEST(TorchUtilTest, LibraryAllocationFailuresAreOutOfMemory) {
  EXPECT_TRUE(IsOutOfMemory(std::runtime_error(
      "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate")));
  EXPECT_TRUE(IsOutOfMemory(
      std::runtime_error("cuDNN error: CUDNN_STATUS_ALLOC_FAILED")));
  EXPECT_FALSE(
      IsOutOfMemory(std::runtime_error("cuDNN error: CUDNN_STATUS_BAD_PARAM")));
  EXPECT_EQ(
      StatusFromException(std::runtime_error("CUBLAS_STATUS_ALLOC_FAILED"),
                          "stylizing", absl::StatusCode::kInternal)
          .code(),
      absl::StatusCode::kResourceExhausted);
}

// Running out of memory is ResourceExhausted, not a crash. Runs in a child
// process (re-executed, so no threads are inherited).
TEST(TorchModelDeathTest, OutOfMemoryIsResourceExhausted) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(StylizeUnderMemoryCap(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace stylizer
