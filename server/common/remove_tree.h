// Removes a directory and everything under it.
#ifndef STYLIZER_SERVER_COMMON_REMOVE_TREE_H_
#define STYLIZER_SERVER_COMMON_REMOVE_TREE_H_

#include <string>

namespace stylizer {

// Removes `path` and everything under it, quietly (what cannot be removed
// stays), without following symbolic links. Not std::filesystem: the PyPI
// torch wheel's libtorch.so exports its own std::filesystem symbols, and
// calls bound to them crashed.
void RemoveTree(const std::string& path);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_COMMON_REMOVE_TREE_H_
