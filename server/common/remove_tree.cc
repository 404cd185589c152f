// Directory removal with nftw; see remove_tree.h.
#include "server/common/remove_tree.h"

#include <ftw.h>
#include <stdio.h>

namespace stylizer {

void RemoveTree(const std::string& path) {
  nftw(
      path.c_str(),
      [](const char* file, const struct stat*, int, struct FTW*) {
        remove(file);
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace stylizer
