// Benchmarks of the RPC layer: PNG/JPEG coding of one frame, and what the
// server adds around the model (decode, queue, encode, gRPC over loopback)
// with a model that only copies its input, so the network is not measured.
#include <cstring>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/service/image_codec.h"
#include "server/service/server.h"
#include "server/service/testing/copy_model.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

RgbFrame Frame(int w, int h) {
  RgbFrame f;
  f.width = w;
  f.height = h;
  f.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < f.pixels.size(); ++i) {
    f.pixels[i] = static_cast<uint8_t>((i * 7) ^ (i >> 9));
  }
  return f;
}

void BM_Encode(benchmark::State& state) {
  const RgbFrame frame = Frame(state.range(0), state.range(1));
  const auto format = static_cast<v1::ImageFormat>(state.range(2));
  for (auto _ : state) {
    v1::Image image;
    benchmark::DoNotOptimize(EncodeImage(frame, format, &image));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Encode)
    ->ArgNames({"w", "h", "format"})
    ->Args({640, 360, v1::IMAGE_FORMAT_PNG})
    ->Args({640, 360, v1::IMAGE_FORMAT_JPEG})
    ->Args({1280, 720, v1::IMAGE_FORMAT_PNG})
    ->Args({1280, 720, v1::IMAGE_FORMAT_JPEG})
    ->Args({1280, 720, v1::IMAGE_FORMAT_RAW})
    ->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  v1::Image image;
  EncodeImage(Frame(state.range(0), state.range(1)),
              static_cast<v1::ImageFormat>(state.range(2)), &image)
      .IgnoreError();
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeImage(image, 1ull << 40));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decode)
    ->ArgNames({"w", "h", "format"})
    ->Args({640, 360, v1::IMAGE_FORMAT_PNG})
    ->Args({640, 360, v1::IMAGE_FORMAT_JPEG})
    ->Args({1280, 720, v1::IMAGE_FORMAT_PNG})
    ->Args({1280, 720, v1::IMAGE_FORMAT_JPEG})
    ->Unit(benchmark::kMillisecond);

// One server for the whole run.
struct Fixture {
  Fixture() {
    Server::Options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.load_model = []() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
      return std::unique_ptr<StyleModel>(new testing::CopyModel(4));
    };
    o.enable_reflection = false;
    server = *Server::BuildAndStart(o);
    server->WaitUntilReady().IgnoreError();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    stub = v1::Stylizer::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server->port()),
                                  grpc::InsecureChannelCredentials(), args));
  }
  std::unique_ptr<Server> server;
  std::unique_ptr<v1::Stylizer::Stub> stub;
};

Fixture& Get() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

v1::Image Raw(int w, int h) {
  v1::Image image;
  EncodeImage(Frame(w, h), v1::IMAGE_FORMAT_RAW, &image).IgnoreError();
  return image;
}

// Sequential unary calls: latency of one StylizeImage, all styles.
void BM_StylizeImage(benchmark::State& state) {
  Fixture& f = Get();
  v1::StylizeImageRequest request;
  *request.mutable_image() = Raw(state.range(0), state.range(1));
  for (auto _ : state) {
    grpc::ClientContext context;
    v1::StylizeImageResponse response;
    grpc::Status status = f.stub->StylizeImage(&context, request, &response);
    if (!status.ok()) state.SkipWithError(status.error_message().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StylizeImage)
    ->ArgNames({"w", "h"})
    ->Args({64, 48})
    ->Args({640, 360})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One ordered stream of raw frames with `styles` outputs each: input
// frames/s (items_per_second) and stylized frames/s (outputs_per_second).
void BM_StylizeFrames(benchmark::State& state) {
  Fixture& f = Get();
  const int styles = state.range(2);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(state.range(0), state.range(1));
  for (int s = 0; s < styles; ++s) request.add_styles()->set_index(s);
  constexpr int kFrames = 200;
  for (auto _ : state) {
    grpc::ClientContext context;
    auto stream = f.stub->StylizeFrames(&context);
    std::thread writer([&] {
      for (int i = 0; i < kFrames; ++i) {
        request.set_sequence(i);
        if (!stream->Write(request)) break;
      }
      stream->WritesDone();
    });
    v1::StylizeFramesResponse response;
    int n = 0;
    while (stream->Read(&response)) ++n;
    writer.join();
    grpc::Status status = stream->Finish();
    if (!status.ok() || n != kFrames) state.SkipWithError("stream failed");
  }
  state.SetItemsProcessed(state.iterations() * kFrames);
  state.counters["outputs_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kFrames * styles,
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StylizeFrames)
    ->ArgNames({"w", "h", "styles"})
    ->Args({64, 48, 1})
    ->Args({640, 360, 1})
    ->Args({640, 360, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace stylizer

BENCHMARK_MAIN();
