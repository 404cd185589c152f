// See memory_trimmer.h.
#include "server/memory_trimmer.h"

#include <malloc.h>

#include <utility>

namespace stylizer {

void MemoryTrimmer::TrimNow() { malloc_trim(0); }

MemoryTrimmer::MemoryTrimmer(absl::Duration interval,
                             std::function<void()> trim)
    : periodic_(interval, trim ? std::move(trim) : &TrimNow) {}

}  // namespace stylizer
