// Secret files that others may read; see secret_files.h.
#include "server/secret_files.h"

#include <sys/stat.h>

#include <utility>

namespace stylizer {

std::vector<OpenSecret> SecretsReadableByOthers(
    const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<OpenSecret> open;
  for (const auto& [flag, path] : files) {
    struct stat st;
    if (path.empty() || stat(path.c_str(), &st) != 0) continue;
    if ((st.st_mode & S_IROTH) != 0) {
      open.push_back({flag, path, static_cast<unsigned>(st.st_mode & 07777)});
    }
  }
  return open;
}

}  // namespace stylizer
