// The client library's connection: StylizerClient::Create checks the
// options and builds the channels (credentials, balancing, health); see
// stylizer_client.h.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/rpc_errors.h"
#include "client/stylizer_client.h"
#include "server/service/file_read.h"
#include "server/service/pem_check.h"
#include "server/service/request_id.h"
#include "server/service/token_text.h"

namespace stylizer::client {
namespace {

// Calls are spread over every address the target resolves to, one call to
// the next ready replica in turn, and a replica whose health (a Watch of the
// whole server, "", which every standard health service answers) is not
// SERVING gets no new calls until it is again. gRPC's core runs the health
// watch itself; it needs a policy that honours it (round_robin does, the
// default pick_first does not). A server without the health service counts
// as healthy.
constexpr char kBalancedServiceConfig[] = R"json({
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""}
})json";

// The health command's channel: round_robin without health checking, so that
// a NOT_SERVING replica can still be asked (and say so).
constexpr char kHealthServiceConfig[] = R"json({
  "loadBalancingConfig": [{"round_robin": {}}]
})json";

// A file a flag names, read whole before connecting, as the server reads
// its own (server/service/file_read.h): a regular file of at most
// `max_bytes`. /dev/zero was read until memory ran out, and a named pipe
// (or /dev/stdin) kept the command waiting for a writer. Every failure is
// InvalidArgument, its message naming the file and the flag (`what`).
absl::StatusOr<std::string> ReadFlagFile(const std::string& path,
                                         absl::string_view what,
                                         uint64_t max_bytes) {
  auto data = ReadWholeFile(path, what, max_bytes);
  if (!data.ok()) return absl::InvalidArgumentError(data.status().message());
  return data;
}

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view what) {
  return ReadFlagFile(path, what, kMaxConfigFileBytes);
}

}  // namespace

absl::StatusOr<std::unique_ptr<StylizerClient>> StylizerClient::Create(
    const ClientOptions& options) {
  if (options.server.empty()) {
    return UsageError(
        "--server is empty; give host:port or a gRPC target such as "
        "dns:///name:port or ipv4:addr:port,addr:port");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return UsageError("--cert and --key go together (mutual TLS)");
  }
  if (!options.request_id.empty()) {
    if (options.request_id.size() > kMaxRequestIdBytes) {
      return UsageError(absl::StrCat(
          "--request_id has ", options.request_id.size(),
          " characters; the server keeps at most ", kMaxRequestIdBytes));
    }
    for (size_t i = 0; i < options.request_id.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(options.request_id[i]);
      if (c < 0x21 || c > 0x7e) {
        return UsageError(absl::StrFormat(
            "--request_id holds byte 0x%02x at position %d; a request id is "
            "visible ASCII characters, without spaces",
            c, i + 1));
      }
    }
  }
  std::string token;
  if (!options.token_file.empty()) {
    auto data = ReadFlagFile(options.token_file, "token file (--token_file)",
                             kMaxTokenFileBytes);
    if (!data.ok()) return data.status();
    token = std::string(absl::StripAsciiWhitespace(*data));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token file ", options.token_file, " is empty"));
    }
    if (absl::Status text = CheckTokenText(token); !text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the token file ", options.token_file, ": ", text.message()));
    }
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  const bool tls = options.tls || !options.ca_file.empty() ||
                   !options.cert_file.empty() ||
                   !options.tls_server_name.empty();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    // Checked here: gRPC would log lines of its own at every attempt, and
    // each would fail as if the server were unavailable.
    if (!options.ca_file.empty()) {
      auto ca = ReadPem(options.ca_file, "CA file (--ca)");
      if (!ca.ok()) return ca.status();
      if (absl::Status s = CheckCertificates(*ca, "CA file (--ca)"); !s.ok()) {
        return s;
      }
      ssl.pem_root_certs = *ca;
    }
    if (!options.cert_file.empty()) {
      auto cert = ReadPem(options.cert_file, "client certificate (--cert)");
      if (!cert.ok()) return cert.status();
      auto key = ReadPem(options.key_file, "client key (--key)");
      if (!key.ok()) return key.status();
      if (absl::Status s = CheckCertificateAndKey(
              *cert, *key, "client certificate (--cert)", "client key (--key)");
          !s.ok()) {
        return s;
      }
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Reconnect quickly so that retries after UNAVAILABLE can succeed.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 4000);
  if (tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  grpc::ChannelArguments health_args = args;
  args.SetServiceConfigJSON(kBalancedServiceConfig);
  health_args.SetServiceConfigJSON(kHealthServiceConfig);
  auto channel = grpc::CreateCustomChannel(options.server, creds, args);
  auto health_channel =
      grpc::CreateCustomChannel(options.server, creds, health_args);
  return std::unique_ptr<StylizerClient>(
      new StylizerClient(std::move(channel), std::move(health_channel), options,
                         std::move(token)));
}

std::unique_ptr<StylizerClient> StylizerClient::CreateForChannel(
    std::shared_ptr<grpc::Channel> channel, const ClientOptions& options) {
  auto health_channel = channel;
  return std::unique_ptr<StylizerClient>(new StylizerClient(
      std::move(channel), std::move(health_channel), options, ""));
}

}  // namespace stylizer::client
