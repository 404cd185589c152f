// What the movie fuzzers share: the upload's bytes in a finished Spool, and
// a MovieReader over it.
#ifndef STYLIZER_TESTS_FUZZ_MOVIE_INPUT_H_
#define STYLIZER_TESTS_FUZZ_MOVIE_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/strings/string_view.h"
#include "server/media/movie_reader.h"
#include "server/media/spool.h"

namespace stylizer::fuzz {

struct MovieInput {
  std::unique_ptr<media::Spool> spool;
  // Reads `spool` (and so goes first); null where it could not be opened.
  std::unique_ptr<media::MovieReader> reader;
};

// `bytes` in a finished Spool that never spills to disk, appended in
// `pieces` equal parts, and a MovieReader over it that decodes on one thread
// and no frame over `max_pixels`.
inline MovieInput OpenMovie(absl::string_view bytes, int pieces,
                            int64_t max_pixels) {
  MovieInput input;
  media::Spool::Options spool_options;
  spool_options.memory_limit = bytes.size() + 1;  // never spill to disk
  auto spool = media::Spool::Create(spool_options);
  if (!spool.ok()) return input;
  input.spool = *std::move(spool);
  for (int i = 0; i < pieces; ++i) {
    const size_t begin = bytes.size() * i / pieces;
    const size_t end = bytes.size() * (i + 1) / pieces;
    (void)input.spool->Append(bytes.substr(begin, end - begin));
  }
  input.spool->Finish();

  media::MovieReader::Options options;
  options.max_decode_pixels = max_pixels;
  options.decoder_threads = 1;
  auto reader = media::MovieReader::Open(input.spool.get(), options);
  if (reader.ok()) input.reader = *std::move(reader);
  return input;
}

}  // namespace stylizer::fuzz

#endif  // STYLIZER_TESTS_FUZZ_MOVIE_INPUT_H_
