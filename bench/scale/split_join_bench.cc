// Times what `stylizer video --split=N` adds to a job, apart from the
// stylization: probing the source for keyframes and cutting it into N
// segments (stream copy), and joining N segments back into one movie with
// the source's audio (stream copy). The join reads the cut segments in place
// of the server's stylized ones: both are H.264 at the source's frame times,
// so the join does the same work per packet.
//   usage: split_join_bench MOVIE [SEGMENTS] [STYLES]
// Prints one markdown table row; bench/scale/run_split_join_bench.sh makes a
// 10-minute 1080p movie and runs it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "client/movie_split.h"

namespace fs = std::filesystem;
using stylizer::client::ChooseCuts;
using stylizer::client::JoinSegments;
using stylizer::client::ProbeForSplit;
using stylizer::client::Segment;
using stylizer::client::WriteSegments;

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "split_join_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("usage: split_join_bench MOVIE [SEGMENTS] [STYLES]");
  const std::string movie = argv[1];
  const int segments = argc > 2 ? std::atoi(argv[2]) : 4;
  const int styles = argc > 3 ? std::atoi(argv[3]) : 1;
  const fs::path dir = fs::temp_directory_path() /
                       ("split_join_bench." + std::to_string(getpid()));
  fs::create_directories(dir);

  auto t0 = std::chrono::steady_clock::now();
  auto probe = ProbeForSplit(movie);
  if (!probe.ok()) return Fail(std::string(probe.status().message()));
  const double probe_s = SecondsSince(t0);
  const std::vector<double> cuts = ChooseCuts(
      probe->keyframes, probe->duration_seconds, segments, /*min_seconds=*/10);
  t0 = std::chrono::steady_clock::now();
  auto cut = WriteSegments(movie, cuts, dir.string());
  if (!cut.ok()) return Fail(std::string(cut.status().message()));
  const double split_s = SecondsSince(t0);

  std::vector<std::string> parts;
  for (const Segment& s : *cut) parts.push_back(s.path);
  double join_s = 0;
  for (int i = 0; i < styles; ++i) {
    const std::string out = (dir / ("joined-" + std::to_string(i) + ".mp4"));
    t0 = std::chrono::steady_clock::now();
    absl::Status s = JoinSegments(*cut, parts, movie, probe->has_audio,
                                  /*matroska=*/false, out);
    if (!s.ok()) return Fail(std::string(s.message()));
    join_s += SecondsSince(t0);
    fs::remove(out);
  }
  fs::remove_all(dir);
  std::printf("| %.0f s | %zu | %d | %.2f | %.2f | %.2f | %.2f |\n",
              probe->duration_seconds, cut->size(), styles, probe_s, split_s,
              join_s / styles, probe_s + split_s + join_s);
  return 0;
}
