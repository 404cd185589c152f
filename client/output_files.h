// Output file naming (<stem>.<style>.<ext>) and AtomicFile, which writes to a
// hidden temporary name in the target directory and renames it into place only
// when complete, so a failed job never leaves a half file that looks whole.
#ifndef STYLIZER_CLIENT_OUTPUT_FILES_H_
#define STYLIZER_CLIENT_OUTPUT_FILES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer::client {

// The file name of `path` without directory and last extension:
// "in/holiday.clip.mp4" -> "holiday.clip"; "x" -> "x".
std::string FileStem(absl::string_view path);

// The last extension of `path` without the dot, lower-cased ("" if none).
std::string FileExtension(absl::string_view path);

// "<dir>/<stem>.<label>.<ext>".
std::string OutputPath(absl::string_view dir, absl::string_view stem,
                       absl::string_view label, absl::string_view ext);

// OutputPath(dir, stem, label, ext) for each of `labels`, in order.
std::vector<std::string> OutputPaths(absl::string_view dir,
                                     absl::string_view stem,
                                     const std::vector<std::string>& labels,
                                     absl::string_view ext);

// Creates `dir` and its parents if missing; error if it exists as a
// non-directory. `made`, when given, gets the highest directory it created
// ("" when `dir` was there), for RemoveMadeDirectories.
absl::Status EnsureDirectory(const std::string& dir,
                             std::string* made = nullptr);

// Removes `dir` and its parents up to `made` (from EnsureDirectory), each
// only if empty: a failed command leaves no directories it made behind
// (`--out=new/deep/dir` left `new/deep`). Nothing when `made` is "".
void RemoveMadeDirectories(const std::string& dir, const std::string& made);

// Checks, before any work is done for them, that files can be put at
// `paths`: none is a directory, and each one's directory is a directory this
// process may write into, or can be made (its nearest existing ancestor is).
// FailedPrecondition naming the path otherwise (PermissionDenied where
// writing is not allowed). Output files replace regular files. A file name
// that is too long once the temporary name's `extra_name_bytes` are added
// (AtomicFile's ".<name>.part-XXXXXX": 13) is refused too: it failed only
// when the output was written, after the server's work. The messages name
// `flag` as the way to write elsewhere.
inline constexpr size_t kTempNameExtraBytes = 13;
absl::Status CheckOutputTargets(const std::vector<std::string>& paths,
                                size_t extra_name_bytes = kTempNameExtraBytes,
                                absl::string_view flag = "--out");

// The failure to write to `what` (standard output, say), from the errno of
// the write: a full disk says so ("No space left on device"), a closed pipe
// is "the reader went away". UNAVAILABLE.
absl::Status WriteFailed(absl::string_view what, int err);

// Reads a whole file. NotFound for a missing file, InvalidArgument for a
// directory, the OS error text otherwise.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// A descriptor of file `path` opened for reading (the caller closes it);
// INVALID_ARGUMENT for a directory, the errno's meaning otherwise.
absl::StatusOr<int> OpenForReading(const std::string& path);

// Paths removed (a directory with all in it) by RemoveLeftovers: what an
// exit that runs no destructor (a second Ctrl-C, `_exit`) would leave
// behind. AtomicFile registers its temporary file while it is unfinished.
void RegisterLeftover(const std::string& path);
void UnregisterLeftover(const std::string& path);
// Removes every registered path. For the interrupt thread, just before it
// ends the process.
void RemoveLeftovers();

// A file written under a temporary name and renamed into place by Commit().
// Destroying an uncommitted AtomicFile deletes the temporary file.
class AtomicFile {
 public:
  // Opens "<dir of final_path>/.<name>.part-XXXXXX" for writing. The
  // directory must exist.
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Create(
      const std::string& final_path);

  // Writes (and overwrites) a whole file atomically.
  static absl::Status WriteWhole(const std::string& final_path,
                                 absl::string_view data);

  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends `data`.
  absl::Status Append(absl::string_view data);

  // Flushes, closes and renames the file to its final name (replacing any
  // file there). After an error the temporary file is gone.
  absl::Status Commit();

  // Deletes the temporary file now (idempotent; also done by the destructor).
  void Discard();

  // Bytes appended so far.
  uint64_t size() const { return size_; }
  const std::string& final_path() const { return final_path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile(std::string final_path, std::string temp_path, int fd)
      : final_path_(std::move(final_path)),
        temp_path_(std::move(temp_path)),
        fd_(fd) {}

  std::string final_path_;
  std::string temp_path_;
  int fd_ = -1;
  bool done_ = false;
  uint64_t size_ = 0;
};

// Renames each file into place, in order. One that cannot be renamed (a
// file at its target that may not be replaced) stops there, with an error
// that names the outputs already in place: they stay, since a rename that
// replaced a file cannot be taken back, and a message naming only the
// failure left them unknown.
absl::Status CommitAll(const std::vector<AtomicFile*>& files);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_OUTPUT_FILES_H_
