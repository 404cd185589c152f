// ffmpeg/ffprobe command-line helpers for movie tests (see test_movies.h).
#include "server/media/testing/test_movies.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/common/remove_tree.h"

namespace stylizer {
namespace media {
namespace testing {

absl::StatusOr<std::string> RunCommand(const std::string& command) {
  std::string dir = MakeTempDir("cmd");
  std::string err_path = dir + "/stderr";
  std::string full = absl::StrCat(command, " 2>", err_path);
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int rc = pclose(pipe);
  std::string err = ReadFile(err_path).value_or("");
  std::remove(err_path.c_str());
  std::remove(dir.c_str());
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("`", command, "` failed (", rc, "): ", err));
  }
  return out;
}

namespace {

// The directories MakeTempDir made, removed when the process exits (tests
// left hundreds of megabytes of movies behind). Never freed: read at exit.
std::mutex made_mu;
std::vector<std::string>* made = nullptr;
pid_t made_by = 0;  // a forked child that exits leaves them to its parent

void RemoveMadeDirectories() {
  std::lock_guard<std::mutex> lock(made_mu);
  if (getpid() != made_by) return;
  for (const std::string& dir : *made) RemoveTree(dir);
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/", prefix, "-XXXXXX");
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::cerr << "cannot make a directory " << pattern << "\n";
    std::abort();  // a test cannot run without its files
  }
  std::lock_guard<std::mutex> lock(made_mu);
  if (made == nullptr) {
    made = new std::vector<std::string>();
    made_by = getpid();
    std::atexit(RemoveMadeDirectories);
  }
  made->emplace_back(buf.data());
  return made->back();
}

absl::Status MakeMovie(const std::string& args, const std::string& path) {
  return RunCommand(
             absl::StrCat("ffmpeg -nostdin -hide_banner -loglevel error -y ",
                          args, " '", path, "'"))
      .status();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

BareStream::BareStream() : format_(avformat_alloc_context()) {
  if (format_ != nullptr) stream_ = avformat_new_stream(format_.get(), nullptr);
}

std::string WithExifOrientation(std::string jpeg, int orientation) {
  std::string body("Exif\0\0II*\0\x08\0\0\0\x01\0", 16);
  body += std::string("\x12\x01\x03\0\x01\0\0\0", 8);  // tag 274, SHORT
  body += static_cast<char>(orientation);
  body += std::string(7, '\0');  // the value's other bytes, no next IFD
  const size_t length = body.size() + 2;
  const std::string app1 = std::string("\xFF\xE1", 2) +
                           static_cast<char>(length >> 8) +
                           static_cast<char>(length & 0xFF) + body;
  return jpeg.insert(2, app1);
}

std::string WithDisplayMatrix(std::string mp4, const int32_t matrix[9]) {
  const size_t at = mp4.find("tkhd");
  if (at == std::string::npos || at + 5 > mp4.size()) return mp4;
  // After the version and flags: times, track id and duration (32 bytes in
  // version 1, 20 in 0), then reserved, layer, group, volume, reserved.
  const size_t times = mp4[at + 4] == 1 ? 32 : 20;
  size_t offset = at + 8 + times + 16;
  if (offset + 36 > mp4.size()) return mp4;
  for (int i = 0; i < 9; ++i) {
    const uint32_t v = static_cast<uint32_t>(matrix[i]);
    for (int shift = 24; shift >= 0; shift -= 8) {
      mp4[offset++] = static_cast<char>((v >> shift) & 0xFF);
    }
  }
  return mp4;
}

absl::StatusOr<ProbedMovie> ProbeMovie(const std::string& path) {
  ProbedMovie m;
  absl::StatusOr<std::string> streams = RunCommand(absl::StrCat(
      "ffprobe -v error -count_frames -show_entries "
      "stream=index,codec_type,codec_name,width,height,nb_read_frames:"
      "stream_side_data=rotation -of default=nw=1 '",
      path, "'"));
  if (!streams.ok()) return streams.status();
  std::string type;
  bool first_video = true;
  for (absl::string_view line : absl::StrSplit(*streams, '\n')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, '=');
    const std::string& key = kv.first;
    const std::string& value = kv.second;
    if (key == "codec_type") {
      type = value;
      if (type == "audio") m.has_audio = true;
    } else if (key == "codec_name") {
      if (type.empty() || type == "video") {
        if (m.video_codec.empty()) m.video_codec = value;
      }
      // codec_name precedes codec_type in ffprobe's order; fixed below.
    } else if (key == "width" && first_video) {
      (void)absl::SimpleAtoi(value, &m.width);
    } else if (key == "height" && first_video) {
      (void)absl::SimpleAtoi(value, &m.height);
    } else if (key == "nb_read_frames" && type == "video") {
      (void)absl::SimpleAtoi(value, &m.frames);
      first_video = false;
    } else if (key == "rotation") {
      (void)absl::SimpleAtoi(value, &m.rotation);
    }
  }
  // Codec names per type, in a form that is easy to read.
  absl::StatusOr<std::string> codecs = RunCommand(absl::StrCat(
      "ffprobe -v error -show_entries stream=codec_type,codec_name "
      "-of csv=p=0 '",
      path, "'"));
  if (!codecs.ok()) return codecs.status();
  m.video_codec.clear();
  for (absl::string_view line : absl::StrSplit(*codecs, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f.size() < 2) continue;
    if (f[1] == "video" && m.video_codec.empty()) m.video_codec = f[0];
    if (f[1] == "audio" && m.audio_codec.empty()) m.audio_codec = f[0];
  }
  absl::StatusOr<std::string> packets = RunCommand(
      absl::StrCat("ffprobe -v error -select_streams v:0 -show_entries "
                   "packet=pts_time,duration_time -of csv=p=0 '",
                   path, "'"));
  if (!packets.ok()) return packets.status();
  double first = 1e300, end = -1e300, total = 0;
  int count = 0;
  for (absl::string_view line : absl::StrSplit(*packets, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    double pts = 0, dur = 0;
    if (f.empty() || !absl::SimpleAtod(f[0], &pts)) continue;
    if (f.size() > 1) (void)absl::SimpleAtod(f[1], &dur);
    first = std::min(first, pts);
    end = std::max(end, pts + dur);
    total += dur;
    ++count;
  }
  if (count > 0) {
    m.duration = end - first;
    m.frame_duration = total / count;
  }
  absl::StatusOr<std::string> decode = RunCommand(absl::StrCat(
      "(ffmpeg -nostdin -v error -i '", path, "' -f null - 2>&1)"));
  m.decodes_cleanly = decode.ok() && decode->empty();
  return m;
}

}  // namespace testing
}  // namespace media
}  // namespace stylizer
