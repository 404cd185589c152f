// Bearer-token authentication: every Stylizer call must carry the metadata
// "authorization: Bearer <token>" with one of the tokens of a file. The
// comparison takes the same time wherever the tokens differ.
//
// The file holds one token per line (blank lines and lines starting with #
// are skipped), so that a new token can be added before clients move to it
// and the old one removed after: rotation without downtime. The server
// re-reads the file every so often (ReloadIfChanged), as a Kubernetes Secret
// mounted as a volume is updated in place.
#ifndef STYLIZER_SERVER_SERVICE_TOKEN_AUTH_H_
#define STYLIZER_SERVER_SERVICE_TOKEN_AUTH_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stylizer {

class TokenAuth {
 public:
  // The most tokens a file may hold.
  static constexpr int kMaxTokens = 64;

  // Reads the tokens from `path` (ParseTokens). NOT_FOUND / PERMISSION_DENIED
  // if unreadable, INVALID_ARGUMENT if it holds no usable token list.
  static absl::StatusOr<std::unique_ptr<TokenAuth>> FromFile(
      const std::string& path);
  // Uses `token` directly (surrounding whitespace trimmed; at least 16
  // characters of visible ASCII, CheckTokenText).
  static absl::StatusOr<std::unique_ptr<TokenAuth>> FromToken(
      std::string token);

  // The tokens of a token file's contents: one per line, surrounding
  // whitespace trimmed, blank lines and lines starting with # skipped; each
  // at least 16 characters of visible ASCII; 1 to kMaxTokens of them.
  // INVALID_ARGUMENT naming the line (never the token) otherwise.
  static absl::StatusOr<std::vector<std::string>> ParseTokens(
      absl::string_view contents);

  // Checks one "authorization" metadata value (absent = empty) against every
  // token. Returns OK or UNAUTHENTICATED with a message that never reveals a
  // token. Thread-safe.
  absl::Status Check(absl::string_view authorization) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // What a reload did.
  enum class Reload { kUnchanged, kReloaded };
  // Reads the file again (FromFile only): kUnchanged if its contents are
  // those last read, kReloaded when its new tokens replace the old ones;
  // an error (the old tokens stay) if it cannot be read or holds no usable
  // token list. A changed file is read twice, kSettleTime apart, and taken
  // only when both reads agree (else kUnchanged, until the next reload): a
  // file written in place, by an editor or `echo >`, may be read half
  // written, and the first 16 characters of a token pass every check.
  // Kubernetes swaps a Secret's files whole. A file whose two reads differ
  // at kUnsettledReloadsReported reloads in a row is reported (UNAVAILABLE),
  // once a streak. Thread-safe.
  absl::StatusOr<Reload> ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr absl::Duration kSettleTime = absl::Milliseconds(200);
  static constexpr int kUnsettledReloadsReported = 5;

  // Tests: runs `wait` between the two reads of a changed file instead of
  // sleeping kSettleTime.
  void SetSettleForTest(std::function<void()> wait) {
    settle_ = std::move(wait);
  }

  // The number of tokens accepted now.
  int token_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TokenAuth(std::string path, std::string contents,
            std::vector<std::string> tokens)
      : path_(std::move(path)),
        contents_(std::move(contents)),
        tokens_(std::move(tokens)) {}

  const std::string path_;  // empty for FromToken
  std::function<void()> settle_;  // empty: sleep kSettleTime
  mutable absl::Mutex mu_;
  // The file's contents when last read, changed or not usable.
  std::string contents_ ABSL_GUARDED_BY(mu_);
  // The last failure to read the file ("" after a good read): the same
  // failure again is no change, so it is reported once.
  std::string read_error_ ABSL_GUARDED_BY(mu_);
  // Reloads in a row whose two reads of a changed file differed.
  int unsettled_reloads_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> tokens_ ABSL_GUARDED_BY(mu_);
};

// True when a and b are equal; the time taken depends only on their lengths,
// not on where they differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_TOKEN_AUTH_H_
