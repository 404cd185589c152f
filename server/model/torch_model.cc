// TorchModel: loading, device and precision selection, warm-up checks and the
// uint8 <-> float hot path around the archive's forward(). Every LibTorch call
// sits inside a try block; errors leave as absl::Status.
#include "server/model/torch_model.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/model/archive_metadata.h"
#include "server/model/cpu_tensor_cache.h"

namespace stylizer {
namespace {

// Smallest padded side the network accepts (two stride-2 convolutions, then
// reflection pads of 1 need at least 2 pixels).
constexpr int kMinSide = 8;

// The full text of an exception, without LibTorch's C++ backtrace.
std::string FullMessage(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    return c10->what_without_backtrace();
  }
  return e.what();
}

// A short message for people: for errors raised inside TorchScript code, the
// final error line after the TorchScript traceback; at most 600 characters.
std::string TorchMessage(const std::exception& e) {
  std::string text = FullMessage(e);
  if (absl::StrContains(text, "Traceback of TorchScript")) {
    absl::string_view view = absl::StripTrailingAsciiWhitespace(text);
    const size_t last_line = view.rfind('\n');
    if (last_line != absl::string_view::npos) {
      text = std::string(view.substr(last_line + 1));
    }
  }
  constexpr size_t kMaxChars = 600;
  if (text.size() > kMaxChars) text = text.substr(0, kMaxChars) + " ...";
  return std::string(absl::StripAsciiWhitespace(text));
}

// Maps an exception from LibTorch to a Status: out-of-memory to
// ResourceExhausted, everything else to `fallback_code`.
absl::Status StatusFromException(const std::exception& e,
                                 absl::string_view context,
                                 absl::StatusCode fallback_code) {
  const std::string message = TorchMessage(e);
  const std::string full = FullMessage(e);
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
      dynamic_cast<const std::bad_alloc*>(&e) != nullptr ||
      absl::StrContains(full, "out of memory") ||
      absl::StrContains(full, "not enough memory") ||
      absl::StrContains(full, "can't allocate memory")) {
    return absl::ResourceExhaustedError(absl::StrCat(
        context, ": the device ran out of memory; use smaller batches or "
                 "frames (", message, ")"));
  }
  return absl::Status(fallback_code, absl::StrCat(context, ": ", message));
}

absl::StatusOr<c10::Device> ParseDevice(const std::string& spec) {
  const std::string s = absl::AsciiStrToLower(spec);
  if (s == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0)
                                       : c10::Device(c10::kCPU);
  }
  if (s == "cpu") return c10::Device(c10::kCPU);
  if (s == "cuda" || absl::StartsWith(s, "cuda:")) {
    int index = 0;
    if (s != "cuda" && !absl::SimpleAtoi(s.substr(5), &index)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device \"", spec, "\" is not auto, cpu, cuda or cuda:N"));
    }
    const int count = torch::cuda::is_available()
                          ? static_cast<int>(torch::cuda::device_count())
                          : 0;
    if (index < 0 || index >= count) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device \"", spec, "\" requested but LibTorch sees ", count,
          " CUDA device(s); use --device=cpu, or a CUDA build of LibTorch "
          "on a machine with a GPU"));
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "device \"", spec, "\" is not auto, cpu, cuda or cuda:N"));
}

const char* PrecisionName(c10::ScalarType t) {
  switch (t) {
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    default: return "fp32";
  }
}

// Row and column indices that pad `n` to `padded` by reflection about the
// last sample (the "reflect" mode of F.pad, repeated for pads larger than
// the frame; a 1-pixel side replicates).
torch::Tensor ReflectIndex(int n, int padded) {
  std::vector<int64_t> index(padded);
  const int period = 2 * (n - 1);
  for (int j = 0; j < padded; ++j) {
    if (j < n || period == 0) {
      index[j] = std::min(j, n - 1);
    } else {
      const int m = j % period;
      index[j] = m < n ? m : period - m;
    }
  }
  return torch::tensor(index, torch::kLong);
}

int PaddedSide(int n) { return std::max(kMinSide, (n + 3) / 4 * 4); }

// uint8 NHWC frames on the CPU -> padded float NCHW in [0,1] on `device`, in
// `dtype`. The only full-size copies: upload, one converting transpose, the
// division in place (and a cast for bf16/fp16).
torch::Tensor PrepareInput(const torch::Tensor& frames_u8, int padded_h,
                           int padded_w, c10::Device device,
                           c10::ScalarType dtype) {
  const int64_t b = frames_u8.size(0);
  const int h = static_cast<int>(frames_u8.size(1));
  const int w = static_cast<int>(frames_u8.size(2));
  torch::Tensor in = frames_u8.to(device);
  if (padded_h != h) in = in.index_select(1, ReflectIndex(h, padded_h).to(device));
  if (padded_w != w) in = in.index_select(2, ReflectIndex(w, padded_w).to(device));
  torch::Tensor x = torch::empty({b, 3, padded_h, padded_w},
                                 torch::TensorOptions().dtype(torch::kFloat).device(device));
  x.copy_(in.permute({0, 3, 1, 2}));
  x.div_(255.0f);
  return dtype == torch::kFloat ? x : x.to(dtype);
}

// Rows of style weights normalised to sum 1, on `device`.
torch::Tensor PrepareWeights(const float* weights, int batch, int num_styles,
                             c10::Device device) {
  torch::Tensor w = torch::from_blob(const_cast<float*>(weights),
                                     {batch, num_styles}, torch::kFloat);
  w = w.to(device);
  return w / w.sum(1, /*keepdim=*/true);
}

// A smooth synthetic test card with edges (gradients, rings, a bar), uint8
// NHWC, deterministic: the warm-up and precision-probe input.
torch::Tensor TestCard(int batch, int side) {
  torch::Tensor card = torch::empty({batch, side, side, 3}, torch::kByte);
  uint8_t* p = card.data_ptr<uint8_t>();
  for (int b = 0; b < batch; ++b) {
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const double u = static_cast<double>(x) / side;
        const double v = static_cast<double>(y) / side;
        const double r = std::hypot(u - 0.5, v - 0.5);
        const bool bar = x > side / 3 && x < side / 2;
        *p++ = static_cast<uint8_t>(255 * u);
        *p++ = static_cast<uint8_t>(127.5 + 127.5 * std::sin(40 * r + b));
        *p++ = bar ? 240 : static_cast<uint8_t>(255 * v);
      }
    }
  }
  return card;
}

// Clamped, rounded 8-bit levels (as float) of a model output.
torch::Tensor Levels(const torch::Tensor& y) {
  return y.to(torch::kFloat).mul(255.0f).round_().clamp_(0, 255);
}

double Psnr(const torch::Tensor& levels_a, const torch::Tensor& levels_b) {
  const double mse = (levels_a - levels_b).pow(2).mean().item<double>();
  if (mse <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

void Synchronize(c10::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

struct TorchModel::Impl {
  ModelDescription description;
  std::string selection_note;
  torch::jit::Module module;
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = torch::kFloat;
  int threads = 0;
  std::function<void(absl::string_view)> log;

  void Log(absl::string_view line) const {
    if (log) {
      log(line);
    } else {
      std::cerr << "stylizer model: " << line << std::endl;
    }
  }

  void ApplyThreads() const {
    if (device.is_cpu() && at::get_num_threads() != threads) {
      at::set_num_threads(threads);
    }
  }

  // Calls forward and checks the result's interface: a floating tensor
  // [B,3,H,W] with finite values in [0,1]. `x` is already padded.
  absl::StatusOr<torch::Tensor> Forward(torch::jit::Module& m,
                                        const torch::Tensor& x,
                                        const torch::Tensor& w) const {
    torch::jit::IValue out = m.forward({x, w});
    if (!out.isTensor()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward(images, style_weights) returned a ", out.tagKind(),
          ", not a tensor [B,3,H,W]"));
    }
    torch::Tensor y = out.toTensor();
    if (y.sizes() != x.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward(images ", c10::str(x.sizes()), ", style_weights ",
          c10::str(w.sizes()), ") returned shape ", c10::str(y.sizes()),
          "; the output must have the input's shape"));
    }
    if (!y.is_floating_point()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward() returned ", c10::toString(y.scalar_type()),
          " values; it must return floating point in [0,1]"));
    }
    return y;
  }
};

namespace {

// Loads the archive on the CPU with its two metadata files.
absl::StatusOr<torch::jit::Module> LoadArchive(const std::string& path,
                                               std::string& styles_json,
                                               std::string& model_json) {
  std::error_code ec;
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "no model archive given; pass the path of a serving archive made by "
        "training/export_seed.py");
  }
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        "model archive ", path, " does not exist; pass the path of a "
        "serving archive made by training/export_seed.py"));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model archive ", path, " is a directory, not a file"));
  }
  torch::jit::ExtraFilesMap extra{{kStylesJsonPath, ""}, {kModelJsonPath, ""}};
  try {
    torch::jit::Module module = torch::jit::load(path, c10::Device(c10::kCPU), extra);
    styles_json = extra[kStylesJsonPath];
    model_json = extra[kModelJsonPath];
    return module;
  } catch (const std::exception& e) {
    absl::Status s = StatusFromException(
        e, absl::StrCat("cannot load model archive ", path,
                        " (not a TorchScript archive, truncated or corrupt; "
                        "re-export it with training/export_seed.py)"),
        absl::StatusCode::kInvalidArgument);
    return s;
  }
}

}  // namespace

TorchModel::TorchModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchModel::~TorchModel() = default;

const ModelDescription& TorchModel::description() const {
  return impl_->description;
}

const std::string& TorchModel::selection_note() const {
  return impl_->selection_note;
}

absl::StatusOr<std::unique_ptr<TorchModel>> TorchModel::Create(
    const TorchModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->log = options.log;
  impl->threads = options.threads > 0
                      ? options.threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (options.threads < 0) {
    return absl::InvalidArgumentError("threads must be >= 0 (0 = all cores)");
  }
  if (options.warmup_side < 1 || options.warmup_side > 4096) {
    return absl::InvalidArgumentError("warmup_side must be in 1..4096");
  }
  const std::string precision = absl::AsciiStrToLower(options.precision);
  if (precision != "auto" && precision != "fp32" && precision != "bf16" &&
      precision != "fp16") {
    return absl::InvalidArgumentError(absl::StrCat(
        "precision \"", options.precision, "\" is not auto, fp32, bf16 or fp16"));
  }

  std::string styles_json, model_json;
  auto loaded = LoadArchive(options.archive_path, styles_json, model_json);
  if (!loaded.ok()) return loaded.status();
  if (styles_json.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model archive ", options.archive_path, " has no ", kStylesJsonPath,
        "; serving archives name their styles there (see "
        "docs/model-runtime.md)"));
  }
  auto names = ParseStylesJson(styles_json);
  if (!names.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model archive ", options.archive_path, ": ", names.status().message()));
  }
  const std::string stem = std::filesystem::path(options.archive_path).stem().string();
  auto name = model_json.empty() ? absl::StatusOr<std::string>(stem)
                                 : ParseModelName(model_json, stem);
  if (!name.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model archive ", options.archive_path, ": ", name.status().message()));
  }
  impl->description.name = *name;
  impl->description.style_names = *std::move(names);
  impl->description.model_json = model_json;
  const int num_styles = static_cast<int>(impl->description.style_names.size());

  auto device = ParseDevice(options.device);
  if (!device.ok()) return device.status();
  impl->device = *device;
  if (impl->device.is_cpu() && options.cpu_tensor_cache_bytes > 0) {
    InstallCpuTensorCache(options.cpu_tensor_cache_bytes);
  }
  impl->description.device = impl->device.str();

  std::vector<c10::ScalarType> candidates;
  if (precision == "fp32") {
    candidates = {torch::kFloat};
  } else if (precision == "bf16") {
    candidates = {torch::kBFloat16};
  } else if (precision == "fp16") {
    if (!impl->device.is_cuda()) {
      return absl::InvalidArgumentError(
          "precision fp16 needs a CUDA device (LibTorch has no fp16 "
          "convolutions on the CPU); use bf16 or fp32 on the CPU");
    }
    candidates = {torch::kHalf};
  } else if (impl->device.is_cuda()) {
    candidates = {torch::kFloat, torch::kHalf, torch::kBFloat16};
  } else {
    candidates = {torch::kFloat, torch::kBFloat16};
  }

  // Warm-up input: a test card at the warm-up size, two frames, style 0 and
  // an even blend of all styles.
  const int side = PaddedSide(options.warmup_side);
  std::vector<float> weight_rows(2 * num_styles, 1.0f);
  std::fill(weight_rows.begin() + 1, weight_rows.begin() + num_styles, 0.0f);

  const std::string where = absl::StrCat("model archive ", options.archive_path);
  try {
    c10::InferenceMode inference;
    impl->ApplyThreads();
    torch::jit::Module base = *std::move(loaded);
    base.eval();
    const torch::Tensor card = TestCard(2, side);
    const torch::Tensor w = PrepareWeights(weight_rows.data(), 2, num_styles, impl->device);

    // One trial per candidate precision. The module is served as scripted:
    // torch::jit::freeze was measured no faster for the exported module, and
    // with LibTorch 1.13 an exception inside a frozen module (a bad style
    // count, out of memory) can crash the process once another module of the
    // same archive has run. optimize_for_inference's oneDNN ops crash on out
    // of memory, and were slower here too.
    struct Trial {
      c10::ScalarType dtype;
      torch::jit::Module module;
      double seconds = 0;
      double psnr = 0;
    };
    std::vector<Trial> trials;
    torch::Tensor reference;  // fp32 levels
    std::vector<std::string> notes;
    for (const c10::ScalarType dtype : candidates) {
      torch::jit::Module module = base.clone();
      module.to(impl->device, dtype);
      module.eval();
      const torch::Tensor x = PrepareInput(card, side, side, impl->device, dtype);
      absl::StatusOr<torch::Tensor> y;
      try {
        y = impl->Forward(module, x, w);
      } catch (const std::exception& e) {
        absl::Status s = StatusFromException(
            e,
            absl::StrCat(where, ": warm-up forward(images [2,3,", side, ",", side,
                         "], style_weights [2,", num_styles, "]) failed in ",
                         PrecisionName(dtype),
                         "; the archive must implement forward(images, "
                         "style_weights) for ", num_styles, " styles"),
            absl::StatusCode::kInvalidArgument);
        if (dtype == torch::kFloat || candidates.size() == 1 ||
            s.code() == absl::StatusCode::kResourceExhausted) {
          return s;
        }
        notes.push_back(absl::StrCat(PrecisionName(dtype), " unsupported"));
        impl->Log(s.message());
        continue;
      }
      if (!y.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": wrong interface: ", y.status().message()));
      }
      const torch::Tensor levels = Levels(*y);
      if (dtype == torch::kFloat) {
        const torch::Tensor yf = y->to(torch::kFloat);
        if (!torch::isfinite(yf).all().item<bool>() || yf.min().item<float>() < -1e-3f ||
            yf.max().item<float>() > 1.001f) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, ": wrong interface: forward() returned values outside "
                     "[0,1] (or NaN) on the warm-up frames"));
        }
        reference = levels;
      }
      Trial trial{dtype, module};
      trial.psnr = reference.defined() ? Psnr(levels, reference)
                                       : std::numeric_limits<double>::infinity();
      trial.seconds = std::numeric_limits<double>::infinity();
      // TorchScript's profiling executor specialises the graph during the
      // first two calls: one more untimed call, then the best of three.
      // Process CPU time on the CPU (robust when other processes compete for
      // the cores), wall time on a GPU.
      module.forward({x, w});
      for (int i = 0; i < 3; ++i) {
        Synchronize(impl->device);
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        module.forward({x, w});
        Synchronize(impl->device);
        const double seconds =
            impl->device.is_cpu()
                ? static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC
                : std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                      .count();
        trial.seconds = std::min(trial.seconds, seconds);
      }
      notes.push_back(absl::StrFormat(
          impl->device.is_cpu() ? "%s %.1f CPU-ms, %.1f dB" : "%s %.1f ms, %.1f dB",
          PrecisionName(dtype), trial.seconds * 1e3, trial.psnr));
      trials.push_back(std::move(trial));
    }

    // Pick the fastest trial that keeps quality (fp32 always does; under an
    // explicit precision there is nothing else to compare with).
    const Trial* chosen = nullptr;
    for (const Trial& t : trials) {
      const bool good = t.dtype == torch::kFloat || candidates.size() == 1 ||
                        t.psnr >= options.min_psnr_db;
      if (good && (chosen == nullptr || t.seconds < chosen->seconds)) chosen = &t;
    }
    if (chosen == nullptr) {
      return absl::InternalError(absl::StrCat(where, ": no precision usable"));
    }
    impl->module = chosen->module;
    impl->dtype = chosen->dtype;
    impl->description.precision = PrecisionName(chosen->dtype);
    impl->selection_note = absl::StrCat(
        "device ", impl->description.device,
        options.device == "auto" ? " (auto)" : "", ", precision ",
        impl->description.precision,
        candidates.size() > 1
            ? absl::StrCat(" (auto: fastest with >= ", options.min_psnr_db,
                           " dB vs fp32 at ", side, "x", side, " batch 2: ")
            : absl::StrCat(" (at ", side, "x", side, " batch 2: "),
        absl::StrJoin(notes, "; "), ")", ", ", impl->threads, " CPU threads");
  } catch (const std::exception& e) {
    return StatusFromException(e, where, absl::StatusCode::kInternal);
  }
  impl->Log(absl::StrCat("loaded ", impl->description.name, " (", num_styles,
                         " styles): ", impl->selection_note));
  return std::unique_ptr<TorchModel>(new TorchModel(std::move(impl)));
}

absl::Status TorchModel::Stylize(const FrameBatch& batch) {
  const int num_styles = this->num_styles();
  if (batch.batch_size < 1 || batch.height < 1 || batch.width < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch of ", batch.batch_size, " frames of ", batch.width, "x",
        batch.height, ": need at least one frame of at least 1x1"));
  }
  if (batch.input == nullptr || batch.output == nullptr ||
      batch.style_weights == nullptr) {
    return absl::InvalidArgumentError("batch has a null input, output or weights");
  }
  for (int i = 0; i < batch.batch_size; ++i) {
    absl::Status s = ValidateStyleWeights(
        absl::MakeConstSpan(batch.style_weights + static_cast<size_t>(i) * num_styles,
                            num_styles),
        num_styles);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame ", i, " of the batch: ", s.message()));
    }
  }
  const int h = batch.height, w = batch.width;
  const int ph = PaddedSide(h), pw = PaddedSide(w);
  try {
    c10::InferenceMode inference;
    impl_->ApplyThreads();
    const torch::Tensor frames = torch::from_blob(
        const_cast<uint8_t*>(batch.input), {batch.batch_size, h, w, 3}, torch::kByte);
    const torch::Tensor x = PrepareInput(frames, ph, pw, impl_->device, impl_->dtype);
    const torch::Tensor wt =
        PrepareWeights(batch.style_weights, batch.batch_size, num_styles, impl_->device);
    torch::Tensor y = impl_->module.forward({x, wt}).toTensor();
    if (y.sizes() != x.sizes()) {
      return absl::InternalError(absl::StrCat(
          "model returned shape ", c10::str(y.sizes()), " for input ",
          c10::str(x.sizes())));
    }
    if (ph != h || pw != w) y = y.slice(2, 0, h).slice(3, 0, w);
    torch::Tensor levels = Levels(y).permute({0, 2, 3, 1});  // NHWC view
    torch::Tensor out = torch::from_blob(batch.output, {batch.batch_size, h, w, 3},
                                         torch::kByte);
    if (impl_->device.is_cpu()) {
      out.copy_(levels);  // float -> uint8 (exact: already rounded) + transpose
    } else {
      out.copy_(levels.to(torch::kByte).contiguous());
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(
        e,
        absl::StrCat("stylizing ", batch.batch_size, " frame(s) of ", w, "x", h,
                     " on ", impl_->description.device),
        absl::StatusCode::kInternal);
  }
}

}  // namespace stylizer
