// Integration tests of the server's security: TLS, mutual TLS (certificates
// made by the test with the openssl CLI) and bearer-token auth. Each accepts
// the right caller and refuses the wrong one; health stays open.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/service/server.h"
#include "server/service/testing/test_certificate.h"
#include "tests/server/server_test_util.h"

namespace stylizer::testing {
namespace {

using ::grpc::health::v1::Health;
using ::testing::HasSubstr;

constexpr char kToken[] = "test-token-0123456789abcdef";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A CA, a server certificate for 127.0.0.1/localhost, two client
// certificates from the same CA (CN=client without alternative names, and
// CN=batch with the DNS and URI names batch.internal and
// spiffe://example/batch), a client certificate from an unrelated CA, and a
// second server certificate from that other CA (a renewal a client can tell).
class Pki {
 public:
  static void Make(const std::string& dir) {
    const std::string ec =
        "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script = absl::StrCat(
        "set -e; cd ", dir, "; exec >openssl.log 2>&1\n",
        "for ca in ca rogue; do openssl req -x509 ", ec,
        " -keyout $ca.key -out $ca.crt -days 2 -subj /CN=$ca-ca; done\n",
        "echo subjectAltName=DNS:localhost,IP:127.0.0.1 > san.ext\n",
        "openssl req ", ec,
        " -keyout server.key -out server.csr -subj /CN=localhost\n",
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
        "-CAcreateserial -out server.crt -days 2 -extfile san.ext\n",
        "openssl req ", ec,
        " -keyout renewed.key -out renewed.csr -subj /CN=localhost\n",
        "openssl x509 -req -in renewed.csr -CA rogue.crt -CAkey rogue.key "
        "-CAcreateserial -out renewed.crt -days 2 -extfile san.ext\n",
        "for c in client:ca intruder:rogue; do n=${c%%:*}; a=${c##*:};"
        " openssl req ",
        ec,
        " -keyout $n.key -out $n.csr -subj /CN=$n;"
        " openssl x509 -req -in $n.csr -CA $a.crt -CAkey $a.key"
        " -CAcreateserial -out $n.crt -days 2; done\n",
        // A client of the same CA known by its subject alternative names.
        "echo subjectAltName=DNS:batch.internal,URI:spiffe://example/batch"
        " > batch.ext\n",
        "openssl req ", ec,
        " -keyout batch.key -out batch.csr -subj /CN=batch\n",
        "openssl x509 -req -in batch.csr -CA ca.crt -CAkey ca.key "
        "-CAcreateserial -out batch.crt -days 2 -extfile batch.ext\n");
    const std::string path = dir + "/make.sh";
    std::ofstream(path) << script;
    ASSERT_EQ(std::system(("sh " + path).c_str()), 0)
        << ReadAll(dir + "/openssl.log");
  }
};

class ServerSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        absl::StrCat(::testing::TempDir(), "/stylizer_pki.", getpid()));
    std::system(("rm -rf " + *dir_ + " && mkdir -p " + *dir_).c_str());
    Pki::Make(*dir_);
    std::ofstream(*dir_ + "/token") << kToken << "\n";
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
  }

  std::string File(const std::string& name) { return *dir_ + "/" + name; }

  // Replaces file `to` by a copy of `from` in one rename, as a renewal does.
  void Put(const std::string& from, const std::string& to) {
    const std::string tmp = File(to + ".tmp");
    std::ofstream(tmp) << ReadAll(File(from));
    ASSERT_EQ(std::rename(tmp.c_str(), File(to).c_str()), 0);
  }

  void Start(Server::Options options) {
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WaitUntilReady().ok());
  }

  // Starts a server whose tokens are read from `path`, again every 20 ms.
  void StartWithTokenFile(const std::string& path) {
    Server::Options options = TestServerOptions(&model_);
    options.auth_token_file = path;
    options.auth_token_reload_interval = absl::Milliseconds(20);
    Start(options);
  }

  // Starts a TLS server on copies of server.crt and server.key named
  // `stem`.crt and `stem`.key, read again every `reload_interval`, so that a
  // test may renew them.
  void StartOnCertificateCopies(const std::string& stem,
                                absl::Duration reload_interval) {
    Put("server.crt", stem + ".crt");
    Put("server.key", stem + ".key");
    Server::Options options = TestServerOptions(&model_);
    options.tls_cert_file = File(stem + ".crt");
    options.tls_key_file = File(stem + ".key");
    options.tls_reload_interval = reload_interval;
    Start(options);
  }

  // Whether a new connection gets the renewed certificate (of the "rogue"
  // CA) within `timeout`.
  bool RenewalServedWithin(absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (!Info(TlsChannel("rogue")).ok()) {
      if (absl::Now() >= give_up) return false;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return true;
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Drain(absl::Seconds(5));
  }

  // A TLS channel trusting `ca`, presenting `client` (a file stem) if given.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& ca,
                                            const std::string& client = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadAll(File(ca + ".crt"));
    if (!client.empty()) {
      ssl.pem_private_key = ReadAll(File(client + ".key"));
      ssl.pem_cert_chain = ReadAll(File(client + ".crt"));
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::SslCredentials(ssl),
        args);
  }

  grpc::Status Info(const std::shared_ptr<grpc::Channel>& channel,
                    const std::string& authorization = "") {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    v1::ModelInfo info;
    return v1::Stylizer::NewStub(channel)->GetModelInfo(&context, {}, &info);
  }

  grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    return Health::NewStub(channel)->Check(&context, request, &response);
  }

  static std::string* dir_;
  ControlledModel model_{SharedRandomModel()};
  std::unique_ptr<Server> server_;
};
std::string* ServerSecurityTest::dir_ = nullptr;

TEST_F(ServerSecurityTest, TlsAcceptsTrustingClientsOnly) {
  Server::Options options = TestServerOptions(&model_);
  options.tls_cert_file = File("server.crt");
  options.tls_key_file = File("server.key");
  Start(options);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Info(TlsChannel("ca")).ok());
  // Plaintext, or a client that does not trust the server's CA: no call.
  EXPECT_EQ(Info(PlainChannel(server_->port())).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Info(TlsChannel("rogue")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServerSecurityTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  Server::Options options = TestServerOptions(&model_);
  options.tls_cert_file = File("server.crt");
  options.tls_key_file = File("server.key");
  options.tls_client_ca_file = File("ca.crt");
  Start(options);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Info(TlsChannel("ca", "client")).ok());
  // No certificate: connected, but every Stylizer call is refused.
  grpc::Status anonymous = Info(TlsChannel("ca"));
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(anonymous.error_message(), HasSubstr("client certificate"));
  // Health probes need no certificate.
  EXPECT_TRUE(HealthCheck(TlsChannel("ca")).ok());
  // A certificate from an unknown CA fails the TLS handshake itself.
  EXPECT_EQ(Info(TlsChannel("ca", "intruder")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServerSecurityTest, MutualTlsClientNamesAdmitOnlyTheCertificatesNamed) {
  Server::Options options = TestServerOptions(&model_);
  options.tls_cert_file = File("server.crt");
  options.tls_key_file = File("server.key");
  options.tls_client_ca_file = File("ca.crt");
  options.tls_client_names = {"spiffe://example/batch"};
  // Files watched and read again (the default), and read once.
  for (const absl::Duration reload :
       {absl::Seconds(60), absl::ZeroDuration()}) {
    SCOPED_TRACE(
        absl::StrCat("tls_reload_interval ", absl::FormatDuration(reload)));
    options.tls_reload_interval = reload;
    Start(options);
    if (HasFatalFailure()) return;
    EXPECT_TRUE(Info(TlsChannel("ca", "batch")).ok());
    // Signed by the same CA, under another name: connected, refused per call.
    grpc::Status other = Info(TlsChannel("ca", "client"));
    EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(other.error_message(), HasSubstr("(client)"));
    EXPECT_THAT(other.error_message(), HasSubstr("--tls_client_names"));
    EXPECT_THAT(other.error_message(),
                ::testing::Not(HasSubstr("spiffe://example/batch")));
    EXPECT_EQ(Info(TlsChannel("ca")).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(HealthCheck(TlsChannel("ca", "client")).ok());
    server_.reset();
  }
}

TEST_F(ServerSecurityTest,
       MutualTlsClientNamesMatchTheCommonNameOnlyWithoutAltNames) {
  Server::Options options = TestServerOptions(&model_);
  options.tls_cert_file = File("server.crt");
  options.tls_key_file = File("server.key");
  options.tls_client_ca_file = File("ca.crt");
  // CN=batch has alternative names, so its common name is not looked at.
  options.tls_client_names = {"client", "batch"};
  Start(options);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Info(TlsChannel("ca", "client")).ok());
  grpc::Status batch = Info(TlsChannel("ca", "batch"));
  EXPECT_EQ(batch.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(batch.error_message(),
              HasSubstr("batch.internal, spiffe://example/batch"));
}

// gRPC took an expired certificate and failed every handshake after it,
// health probes included; the start fails instead, read once or watched.
TEST_F(ServerSecurityTest, AnExpiredCertificateFailsTheStart) {
  const auto expired = MakeTestCertificate(-absl::Hours(48), -absl::Hours(1));
  std::ofstream(File("expired.crt")) << expired.cert_pem;
  std::ofstream(File("expired.key")) << expired.key_pem;
  Server::Options options = TestServerOptions(&model_);
  options.tls_cert_file = File("expired.crt");
  options.tls_key_file = File("expired.key");
  for (const absl::Duration reload :
       {absl::Seconds(60), absl::ZeroDuration()}) {
    options.tls_reload_interval = reload;
    auto server = Server::BuildAndStart(options);
    ASSERT_FALSE(server.ok()) << absl::FormatDuration(reload);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(server.status().message(), HasSubstr("expired on"));
  }
}

TEST_F(ServerSecurityTest, ClientNamesWithoutAClientCaAreRefusedAtStart) {
  Server::Options options = TestServerOptions(&model_);
  options.tls_cert_file = File("server.crt");
  options.tls_key_file = File("server.key");
  options.tls_client_names = {"client"};
  auto server = Server::BuildAndStart(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("--tls_client_ca"));
  options.tls_client_ca_file = File("ca.crt");
  options.tls_client_names = {"client", ""};
  server = Server::BuildAndStart(options);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("empty name"));
}

TEST_F(ServerSecurityTest, TokenAuthGuardsEveryStylizerMethodButNotHealth) {
  Server::Options options = TestServerOptions(&model_);
  options.auth_token_file = File("token");
  Start(options);
  if (HasFatalFailure()) return;
  auto channel = PlainChannel(server_->port());
  const std::string right = absl::StrCat("Bearer ", kToken);
  EXPECT_TRUE(Info(channel, right).ok());
  for (const std::string& wrong :
       {std::string(), std::string(kToken),
        absl::StrCat("Bearer ", kToken, "x"),
        std::string("Bearer test-token-0123456789abcdeX")}) {
    grpc::Status status = Info(channel, wrong);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong;
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(kToken)));
  }
  EXPECT_TRUE(HealthCheck(channel).ok());
  // Two headers, the right one first or second: refused either way (the
  // first one decided).
  for (const bool right_first : {true, false}) {
    grpc::ClientContext context;
    context.AddMetadata("authorization",
                        right_first ? right : "Bearer wrong-wrong-wrong-wr");
    context.AddMetadata("authorization",
                        right_first ? "Bearer wrong-wrong-wrong-wr" : right);
    v1::ModelInfo info;
    const grpc::Status status =
        v1::Stylizer::NewStub(channel)->GetModelInfo(&context, {}, &info);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << right_first;
    EXPECT_THAT(status.error_message(), HasSubstr("2 authorization headers"));
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(kToken)));
  }

  auto stub = v1::Stylizer::NewStub(channel);
  {  // StylizeImage
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer nope-nope-nope-nope");
    v1::StylizeImageRequest request;
    *request.mutable_image() = RawImage(TestFrame(16, 16, 0));
    v1::StylizeImageResponse response;
    EXPECT_EQ(stub->StylizeImage(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {  // StylizeFrames, refused and then accepted
    for (const std::string& token :
         {std::string("Bearer wrong-wrong-wrong-wr"), right}) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", token);
      auto stream = stub->StylizeFrames(&context);
      v1::StylizeFramesRequest request;
      *request.mutable_image() = RawImage(TestFrame(16, 16, 0));
      stream->Write(request);
      stream->WritesDone();
      v1::StylizeFramesResponse response;
      int n = 0;
      while (stream->Read(&response)) ++n;
      grpc::Status status = stream->Finish();
      if (token == right) {
        EXPECT_TRUE(status.ok()) << status.error_message();
        EXPECT_EQ(n, 1);
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
      }
    }
  }
  {  // StylizeVideo
    grpc::ClientContext context;
    auto stream = stub->StylizeVideo(&context);
    stream->WritesDone();
    v1::StylizeVideoResponse response;
    while (stream->Read(&response)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

// Rotating the token without a restart: the file is edited (new token
// added, then the old one removed) and the server follows within its reload
// interval; a broken edit leaves the tokens in use.
TEST_F(ServerSecurityTest, TokenFileChangesTakeEffectWithoutARestart) {
  const std::string path = File("rotating-token");
  const std::string old_token = "old-token-0123456789abcdef";
  const std::string new_token = "new-token-0123456789abcdef";
  { std::ofstream(path) << old_token << "\n"; }
  StartWithTokenFile(path);
  if (HasFatalFailure()) return;
  auto channel = PlainChannel(server_->port());
  auto works = [&](const std::string& token) {
    return Info(channel, "Bearer " + token).ok();
  };
  EXPECT_TRUE(works(old_token));
  EXPECT_FALSE(works(new_token));

  { std::ofstream(path) << new_token << "\n" << old_token << "\n"; }
  EXPECT_TRUE(WaitFor([&] { return works(new_token); }));
  EXPECT_TRUE(works(old_token));  // both during the rotation

  { std::ofstream(path) << "half-typed\n"; }
  absl::SleepFor(absl::Milliseconds(200));  // ten reloads, all refused
  EXPECT_TRUE(works(new_token));
  EXPECT_TRUE(works(old_token));

  { std::ofstream(path) << new_token << "\n"; }
  EXPECT_TRUE(WaitFor([&] { return !works(old_token); }));
  EXPECT_TRUE(works(new_token));
}

// A token the file no longer holds ends the streams opened with it at their
// next message: a frame stream went on being answered, for as long as its
// client liked.
TEST_F(ServerSecurityTest, ARemovedTokenEndsTheStreamsOpenedWithIt) {
  const std::string path = File("revoked-token");
  const std::string old_token = "old-token-0123456789abcdef";
  const std::string new_token = "new-token-0123456789abcdef";
  { std::ofstream(path) << old_token << "\n" << new_token << "\n"; }
  StartWithTokenFile(path);
  if (HasFatalFailure()) return;
  auto channel = PlainChannel(server_->port());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + old_token);
  auto stub = v1::Stylizer::NewStub(channel);
  auto stream = stub->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = RawImage(TestFrame(8, 8, 1));
  request.add_styles()->set_index(0);
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));  // answered while the token holds

  { std::ofstream(path) << new_token << "\n"; }
  ASSERT_TRUE(
      WaitFor([&] { return !Info(channel, "Bearer " + old_token).ok(); },
              absl::Seconds(30)));
  request.set_sequence(1);
  request.clear_styles();
  stream->Write(request);
  stream->WritesDone();
  int answered = 0;
  while (stream->Read(&response)) ++answered;
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("no longer accepted"));
  EXPECT_EQ(answered, 0);
  EXPECT_TRUE(Info(channel, "Bearer " + new_token).ok());
}

// A renewed certificate (here from another CA, so that a client can tell
// which one it got) is used by new connections once written over the old
// files, without a restart.
TEST_F(ServerSecurityTest, ARenewedCertificateIsServedWithoutARestart) {
  StartOnCertificateCopies("live", absl::Seconds(1));
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Info(TlsChannel("ca")).ok());
  EXPECT_EQ(Info(TlsChannel("rogue")).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  Put("renewed.key", "live.key");
  Put("renewed.crt", "live.crt");
  EXPECT_TRUE(RenewalServedWithin(absl::Seconds(30)))
      << "the renewal was not served";
  EXPECT_EQ(Info(TlsChannel("ca")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// SIGHUP (Server::ReloadFilesNow) has a renewal served within seconds
// however long the reload interval: it used to wait for gRPC's watcher,
// which read the server's checked copies only once an interval.
TEST_F(ServerSecurityTest, ARenewalIsServedSoonAfterAReloadIsAskedFor) {
  StartOnCertificateCopies("live", absl::Hours(1));
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Info(TlsChannel("ca")).ok());
  Put("renewed.key", "live.key");
  Put("renewed.crt", "live.crt");
  EXPECT_TRUE(server_->ReloadFilesNow().tls_files);
  EXPECT_TRUE(RenewalServedWithin(absl::Seconds(20)))
      << "the renewal was not served";
}

// A renewal caught half-way, the new key beside the old certificate: gRPC's
// watcher read them as they were and every new handshake failed, health
// probes included, until both were in place. The server keeps serving the
// last pair that matched, then takes the new pair once it is whole.
TEST_F(ServerSecurityTest, AHalfDoneRenewalKeepsTheOldCertificateServing) {
  StartOnCertificateCopies("half", absl::Seconds(1));
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Info(TlsChannel("ca")).ok());

  Put("renewed.key", "half.key");    // the key first, its certificate later
  absl::SleepFor(absl::Seconds(3));  // three reloads of both
  EXPECT_TRUE(Info(TlsChannel("ca")).ok())
      << "a key without its certificate stopped new connections";

  Put("renewed.crt", "half.crt");
  EXPECT_TRUE(RenewalServedWithin(absl::Seconds(30)))
      << "the renewal was not served";
}

TEST_F(ServerSecurityTest, BadSecurityOptionsAreRefusedAtStart) {
  Server::Options options = TestServerOptions(&model_);
  options.tls_cert_file = File("server.crt");  // no key
  EXPECT_EQ(Server::BuildAndStart(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.tls_key_file = File("missing.key");
  EXPECT_EQ(Server::BuildAndStart(options).status().code(),
            absl::StatusCode::kNotFound);
  // A key that does not match its certificate, read again or not.
  for (absl::Duration reload : {absl::ZeroDuration(), absl::Seconds(1)}) {
    options = TestServerOptions(&model_);
    options.tls_cert_file = File("server.crt");
    options.tls_key_file = File("renewed.key");
    options.tls_reload_interval = reload;
    EXPECT_FALSE(Server::BuildAndStart(options).ok()) << reload;
  }
  options = TestServerOptions(&model_);
  options.auth_token_file = File("missing-token");
  EXPECT_EQ(Server::BuildAndStart(options).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace stylizer::testing
