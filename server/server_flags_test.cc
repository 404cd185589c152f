// Tests of CheckFlags and CheckNoArguments, flag by flag (the refusals at
// start are tested end to end in tests/server/server_process_test.cc).
#include "server/server_flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;

// Each test changes flags under a saver, which restores them.
class ServerFlagsTest : public ::testing::Test {
 protected:
  absl::FlagSaver saver_;
};

absl::Status Refusal() {
  absl::Status status = CheckFlags();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  return status;
}

TEST_F(ServerFlagsTest, TheDefaultsPass) { EXPECT_TRUE(CheckFlags().ok()); }

TEST_F(ServerFlagsTest, HostsAreAddressesWithoutAPort) {
  for (const char* host : {"0.0.0.0", "[::]", "::", "::1", "[::1]",
                           "fe80::1%eth0", "localhost", "10.0.0.7"}) {
    absl::SetFlag(&FLAGS_host, host);
    EXPECT_TRUE(CheckFlags().ok()) << host;
  }
  absl::SetFlag(&FLAGS_host, "localhost:50051");
  EXPECT_THAT(Refusal().message(), HasSubstr("--host=localhost:50051 is not"));
  absl::SetFlag(&FLAGS_host, "0.0.0.0");
  absl::SetFlag(&FLAGS_metrics_host, "localhost:9464");
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--metrics_host=localhost:9464 is not"));
}

// An empty --metrics_host follows --host: a server told to listen on this
// machine only kept /metrics on every address.
TEST_F(ServerFlagsTest, MetricsFollowTheHostUnlessTold) {
  absl::SetFlag(&FLAGS_metrics_host, "");
  for (const char* host : {"127.0.0.1", "::1", "[::1]", "localhost"}) {
    absl::SetFlag(&FLAGS_host, host);
    EXPECT_EQ(MetricsHost(), "127.0.0.1") << host;
    EXPECT_TRUE(CheckFlags().ok()) << host;
  }
  for (const char* host : {"[::]", "0.0.0.0", "10.0.0.7"}) {
    absl::SetFlag(&FLAGS_host, host);
    EXPECT_EQ(MetricsHost(), "0.0.0.0") << host;
  }
  absl::SetFlag(&FLAGS_host, "127.0.0.1");
  absl::SetFlag(&FLAGS_metrics_host, "0.0.0.0");
  EXPECT_EQ(MetricsHost(), "0.0.0.0");
}

TEST_F(ServerFlagsTest, TheApiAndMetricsNeedAPortEach) {
  absl::SetFlag(&FLAGS_port, 9000);
  absl::SetFlag(&FLAGS_metrics_port, 9000);
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--port and --metrics_port are both 9000"));
  // On two addresses, neither of them every address, one port serves both.
  absl::SetFlag(&FLAGS_host, "127.0.0.1");
  absl::SetFlag(&FLAGS_metrics_host, "127.0.0.2");
  EXPECT_TRUE(CheckFlags().ok());
  // localhost, and /metrics following it to 127.0.0.1, is one address.
  absl::SetFlag(&FLAGS_host, "localhost");
  absl::SetFlag(&FLAGS_metrics_host, "");
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--port and --metrics_port are both 9000"));
  // Port 0 picks a free port for each.
  absl::SetFlag(&FLAGS_host, "[::]");
  absl::SetFlag(&FLAGS_port, 0);
  absl::SetFlag(&FLAGS_metrics_port, 0);
  EXPECT_TRUE(CheckFlags().ok());
}

TEST_F(ServerFlagsTest, RangesNameTheFlagAndTheValue) {
  absl::SetFlag(&FLAGS_port, 70000);
  EXPECT_THAT(Refusal().message(), HasSubstr("--port must be in [0, 65535]"));
  absl::SetFlag(&FLAGS_port, 50051);
  absl::SetFlag(&FLAGS_default_crf, 52);
  EXPECT_THAT(Refusal().message(), HasSubstr("--default_crf must be in"));
  absl::SetFlag(&FLAGS_default_crf, 20);
  absl::SetFlag(&FLAGS_x264_preset, "very_fast");
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--x264_preset must be one of ultrafast"));
  absl::SetFlag(&FLAGS_x264_preset, "veryfast");
  absl::SetFlag(&FLAGS_work_threads, 5000);
  EXPECT_THAT(Refusal().message(), HasSubstr("--work_threads must be in"));
  absl::SetFlag(&FLAGS_work_threads, 0);
  absl::SetFlag(&FLAGS_max_send_message_bytes, 100);
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--max_send_message_bytes must be at least 1024"));
}

// The queue's flags were refused by the queue's own check, which names its
// options without the dashes ("max_batch_size must be at least 1").
TEST_F(ServerFlagsTest, QueueFlagsAreNamedAsFlags) {
  absl::SetFlag(&FLAGS_max_batch_size, 0);
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--max_batch_size must be at least 1, got 0"));
  absl::SetFlag(&FLAGS_max_batch_size, 8);
  absl::SetFlag(&FLAGS_max_frames_in_flight_per_job, 0);
  EXPECT_THAT(
      Refusal().message(),
      HasSubstr("--max_frames_in_flight_per_job must be at least 1, got 0"));
  absl::SetFlag(&FLAGS_max_frames_in_flight_per_job, 64);
  absl::SetFlag(&FLAGS_max_queued_bytes, 0);
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--max_queued_bytes must be at least 1, got 0"));
  absl::SetFlag(&FLAGS_max_queued_bytes, int64_t{1} << 30);
  absl::SetFlag(&FLAGS_max_queued_items, 4);
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--max_queued_items (4) must be at least "
                        "--max_batch_size (8)"));
}

// Typos were found when the model loaded, after the port had opened, in a
// model_load_failed line that did not name the flag.
TEST_F(ServerFlagsTest, DeviceAndPrecisionAreKnownWords) {
  for (const char* good : {"auto", "cpu", "cuda", "cuda:0", "cuda:3", "CPU"}) {
    absl::SetFlag(&FLAGS_device, good);
    EXPECT_TRUE(CheckFlags().ok()) << good;
  }
  for (const char* bad : {"tpu", "cuda:", "cuda:-1", "cuda:x", "gpu", ""}) {
    absl::SetFlag(&FLAGS_device, bad);
    EXPECT_THAT(Refusal().message(),
                HasSubstr("--device must be auto, cpu, cuda or cuda:N"))
        << bad;
  }
  absl::SetFlag(&FLAGS_device, "auto");
  for (const char* good : {"auto", "fp32", "bf16", "fp16", "FP16"}) {
    absl::SetFlag(&FLAGS_precision, good);
    EXPECT_TRUE(CheckFlags().ok()) << good;
  }
  for (const char* bad : {"int8", "fp64", "half", ""}) {
    absl::SetFlag(&FLAGS_precision, bad);
    EXPECT_THAT(Refusal().message(),
                HasSubstr("--precision must be auto, fp32, bf16 or fp16"))
        << bad;
  }
}

TEST_F(ServerFlagsTest, DurationsAreCheckedForTheirMeaning) {
  absl::SetFlag(&FLAGS_keepalive_time, absl::Seconds(-1));
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--keepalive_time must not be negative"));
  absl::SetFlag(&FLAGS_keepalive_time, absl::ZeroDuration());
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--keepalive_time must be above 0"));
  absl::SetFlag(&FLAGS_keepalive_time, absl::InfiniteDuration());
  EXPECT_TRUE(CheckFlags().ok());  // inf: no keepalive pings
  absl::SetFlag(&FLAGS_batch_timeout, absl::InfiniteDuration());
  EXPECT_THAT(Refusal().message(), HasSubstr("--batch_timeout must be finite"));
  absl::SetFlag(&FLAGS_batch_timeout, absl::ZeroDuration());
  EXPECT_TRUE(CheckFlags().ok());  // 0: no wait for a fuller batch
  absl::SetFlag(&FLAGS_handshake_timeout, absl::ZeroDuration());
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--handshake_timeout must be above 0"));
  absl::SetFlag(&FLAGS_handshake_timeout, absl::Microseconds(500));
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--handshake_timeout must be at least 1ms"));
  absl::SetFlag(&FLAGS_handshake_timeout, absl::Seconds(10));
  absl::SetFlag(&FLAGS_drain_device_timeout, absl::ZeroDuration());
  EXPECT_THAT(Refusal().message(),
              HasSubstr("--drain_device_timeout must be above 0"));
}

TEST_F(ServerFlagsTest, TheSpoolDirectoryMustBeWritable) {
  absl::SetFlag(&FLAGS_spool_dir, "/no/such/directory");
  EXPECT_THAT(
      Refusal().message(),
      HasSubstr("--spool_dir must be a directory the server can write"));
}

TEST(CheckNoArgumentsTest, AnArgumentIsRefusedAndAModelNamed) {
  EXPECT_TRUE(CheckNoArguments({}).ok());
  const absl::Status model = CheckNoArguments({"my.pt"});
  EXPECT_TRUE(absl::IsInvalidArgument(model));
  EXPECT_THAT(model.message(), HasSubstr("(for a model, --model=my.pt)"));
  EXPECT_THAT(CheckNoArguments({"serve", "now"}).message(),
              HasSubstr("unexpected argument 'serve'"));
}

}  // namespace
}  // namespace stylizer
