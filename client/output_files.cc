// Output naming and atomic (temp-then-rename) file writing; see output_files.h.
#include "client/output_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoStatus(absl::string_view what, const std::string& path,
                         int err) {
  const std::string text = absl::StrCat(what, " ", path, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(text);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(text);
  return absl::InternalError(text);
}

}  // namespace

std::string FileStem(absl::string_view path) {
  return fs::path(std::string(path)).stem().string();
}

std::string FileExtension(absl::string_view path) {
  std::string ext = fs::path(std::string(path)).extension().string();
  if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
  return absl::AsciiStrToLower(ext);
}

std::string OutputPath(absl::string_view dir, absl::string_view stem,
                       absl::string_view label, absl::string_view ext) {
  fs::path p(std::string(dir.empty() ? "." : dir));
  p /= absl::StrCat(stem, ".", label, ".", ext);
  return p.string();
}

std::vector<std::string> OutputPaths(absl::string_view dir,
                                     absl::string_view stem,
                                     const std::vector<std::string>& labels,
                                     absl::string_view ext) {
  std::vector<std::string> paths;
  for (const std::string& label : labels) {
    paths.push_back(OutputPath(dir, stem, label, ext));
  }
  return paths;
}

namespace {

// `dir` absolute, without "." or ".." or a trailing slash.
fs::path AbsoluteDirectory(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec).lexically_normal();
  if (p.filename().empty() && p.has_relative_path()) p = p.parent_path();
  return p;
}

}  // namespace

absl::Status EnsureDirectory(const std::string& dir, std::string* made_top) {
  std::error_code made, ec;
  if (made_top != nullptr) {
    // The highest missing ancestor is the highest directory made below.
    made_top->clear();
    for (fs::path p = AbsoluteDirectory(dir);
         p.has_relative_path() && !fs::exists(p, ec) && !ec;
         p = p.parent_path()) {
      *made_top = p.string();
    }
  }
  // Made first, then looked at: checking first raced with another thread
  // making it (not a directory yet, then something there).
  fs::create_directories(dir, made);
  if (fs::is_directory(dir, ec)) return absl::OkStatus();
  if (fs::exists(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " exists and is not a directory"));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "cannot create directory ", dir, ": ",
      made ? made.message() : std::string("it vanished")));
}

void RemoveMadeDirectories(const std::string& dir, const std::string& made) {
  if (made.empty()) return;
  std::error_code ec;
  const fs::path top(made);
  for (fs::path p = AbsoluteDirectory(dir); p.has_relative_path();
       p = p.parent_path()) {
    if (!fs::remove(p, ec) || ec) return;  // not empty: stop there
    if (p == top) return;
  }
}

absl::Status CheckOutputTargets(const std::vector<std::string>& paths,
                                size_t extra_name_bytes,
                                absl::string_view flag) {
  std::error_code ec;
  for (const std::string& path : paths) {
    const std::string name = fs::path(path).filename().string();
    if (name.size() + extra_name_bytes > NAME_MAX) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the output name ", name, " is ", name.size(),
          " bytes, too long for the file system once its temporary name's ",
          extra_name_bytes, " are added (", NAME_MAX, " at most); ",
          flag == "--out"
              ? "rename the input (or, for an image, give --out=FILE)"
              : absl::StrCat("give a shorter ", flag)));
    }
    if (fs::is_directory(path, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " is a directory, so no output can be written there; move it "
                "or give another ", flag));
    }
    // The nearest ancestor that exists must be a directory we may write to.
    fs::path dir = fs::path(path).parent_path();
    if (dir.empty()) dir = ".";
    while (!fs::exists(dir, ec) && dir.has_parent_path() &&
           dir.parent_path() != dir) {
      dir = dir.parent_path();
    }
    if (!fs::exists(dir, ec)) dir = ".";
    if (!fs::is_directory(dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir.string(), " is not a directory, so ", path,
          " cannot be written; give another ", flag));
    }
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return ErrnoStatus("cannot write into", dir.string(), errno);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> OpenForReading(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is a directory, not a file"));
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  return fd;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<int> opened = OpenForReading(path);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  std::string data;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return ErrnoStatus("cannot read", path, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return data;
}

namespace {

// The process's umask, read without changing it (umask(2) can only be read
// by setting it, which would race with other threads creating files).
mode_t CurrentUmask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest(line);
    if (absl::ConsumePrefix(&rest, "Umask:")) {
      unsigned value = 0;
      std::istringstream(std::string(rest)) >> std::oct >> value;
      return static_cast<mode_t>(value & 0777);
    }
  }
  return 022;
}

}  // namespace

namespace {

struct Leftovers {
  absl::Mutex mu;
  std::set<std::string> paths ABSL_GUARDED_BY(mu);
};

Leftovers& GetLeftovers() {
  static Leftovers* leftovers = new Leftovers;  // used until _exit
  return *leftovers;
}

}  // namespace

void RegisterLeftover(const std::string& path) {
  Leftovers& l = GetLeftovers();
  absl::MutexLock lock(&l.mu);
  l.paths.insert(path);
}

void UnregisterLeftover(const std::string& path) {
  Leftovers& l = GetLeftovers();
  absl::MutexLock lock(&l.mu);
  l.paths.erase(path);
}

void RemoveLeftovers() {
  Leftovers& l = GetLeftovers();
  absl::MutexLock lock(&l.mu);
  for (const std::string& path : l.paths) {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  l.paths.clear();
}

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(
    const std::string& final_path) {
  fs::path p(final_path);
  fs::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  std::string temp = (dir / absl::StrCat(".", p.filename().string(),
                                         ".part-XXXXXX"))
                         .string();
  std::vector<char> buf(temp.begin(), temp.end());
  buf.push_back('\0');
  const int fd = mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot create a file in", dir.string(), errno);
  // What open(2) would have made (mkostemp makes 0600): the user's umask
  // decides, as for any file a command writes.
  fchmod(fd, 0666 & ~CurrentUmask());
  RegisterLeftover(buf.data());
  return std::unique_ptr<AtomicFile>(
      new AtomicFile(final_path, std::string(buf.data()), fd));
}

absl::Status AtomicFile::WriteWhole(const std::string& final_path,
                                    absl::string_view data) {
  auto file = Create(final_path);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Append(data); !s.ok()) return s;
  return (*file)->Commit();
}

AtomicFile::~AtomicFile() { Discard(); }

absl::Status AtomicFile::Append(absl::string_view data) {
  if (done_) {
    return absl::FailedPreconditionError(
        absl::StrCat(final_path_, " is already closed"));
  }
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", temp_path_, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  size_ += data.size();
  return absl::OkStatus();
}

absl::Status CommitAll(const std::vector<AtomicFile*>& files) {
  std::vector<std::string> done;
  for (AtomicFile* file : files) {
    absl::Status s = file->Commit();
    if (!s.ok()) {
      if (done.empty()) return s;
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), " (already in place: ",
                                       absl::StrJoin(done, ", "), ")"));
    }
    done.push_back(file->final_path());
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (done_) {
    return absl::FailedPreconditionError(
        absl::StrCat(final_path_, " is already closed"));
  }
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) {
    const int err = errno;
    Discard();
    return ErrnoStatus("cannot close", temp_path_, err);
  }
  if (rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    const int err = errno;
    Discard();
    return ErrnoStatus("cannot rename to", final_path_, err);
  }
  done_ = true;
  UnregisterLeftover(temp_path_);
  return absl::OkStatus();
}

void AtomicFile::Discard() {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  unlink(temp_path_.c_str());
  UnregisterLeftover(temp_path_);
}

absl::Status WriteFailed(absl::string_view what, int err) {
  if (err == EPIPE) {
    return absl::UnavailableError(
        absl::StrCat("cannot write to ", what, " (the reader went away)"));
  }
  if (err != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write to ", what, ": ", std::strerror(err)));
  }
  return absl::UnavailableError(absl::StrCat(
      "cannot write to ", what, " (a full disk, or the reader went away)"));
}

}  // namespace stylizer::client
