// The files that hold secrets (the TLS private key, the token file) are
// looked at once at start-up: one that any user of the machine may read
// is logged as a warning, as ssh does for a private key (it refuses; a
// Kubernetes Secret is mounted 0644 unless told otherwise, so the server
// warns and serves on).
#ifndef STYLIZER_SERVER_SECRET_FILES_H_
#define STYLIZER_SERVER_SECRET_FILES_H_

#include <string>
#include <vector>

namespace stylizer {

struct OpenSecret {
  std::string flag;  // "--tls_key", "--auth_token_file"
  std::string path;
  unsigned mode = 0;  // the permission bits, e.g. 0644
};

// Those of `files` (flag, path; an empty path is skipped) that others may
// read (the mode's 0004 bit, links followed). A file that cannot be looked
// at is left to the code that reads it, which says why.
std::vector<OpenSecret> SecretsReadableByOthers(
    const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SECRET_FILES_H_
