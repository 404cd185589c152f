// Sources of upload bytes for StylizeVideo: a file on disk or bytes in memory,
// which Rewind() lets a retry upload again, and a pipe (standard input),
// which can be read once.
#ifndef STYLIZER_CLIENT_BYTE_SOURCE_H_
#define STYLIZER_CLIENT_BYTE_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stylizer::client {

// A sequence of bytes read front to back, possibly several times.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Total size in bytes (0 if unknown).
  virtual uint64_t size() const = 0;
  // Starts reading again from the first byte.
  virtual absl::Status Rewind() = 0;
  // Reads up to `n` bytes into `buf`; 0 means the end was reached. A source
  // that waits for its bytes (a pipe) gives up once `stop` is set, with
  // CANCELLED.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n,
                                      const std::atomic<bool>& stop) = 0;
  // Why Rewind() would fail now (bytes were read that cannot be read
  // again), or empty.
  virtual std::string NoRewindReason() const { return std::string(); }
};

// Bytes of a regular file, read as they are uploaded (never all in memory).
class FileSource : public ByteSource {
 public:
  // Opens `path`. NotFound if missing, InvalidArgument if not a regular file
  // or empty. Reads give the file's first size() bytes, its size when
  // opened: a file still being written (a recording) is uploaded as it was
  // then, as the size the job announced says; one that shrank is an error.
  static absl::StatusOr<std::unique_ptr<FileSource>> Open(
      const std::string& path);
  ~FileSource() override;
  uint64_t size() const override { return size_; }
  absl::Status Rewind() override;
  absl::StatusOr<size_t> Read(char* buf, size_t n,
                              const std::atomic<bool>& stop) override;

 private:
  FileSource(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_;
  uint64_t size_;
  uint64_t pos_ = 0;  // bytes read since the start or the last Rewind
};

// Bytes held in memory.
class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_.size(); }
  absl::Status Rewind() override {
    pos_ = 0;
    return absl::OkStatus();
  }
  absl::StatusOr<size_t> Read(char* buf, size_t n,
                              const std::atomic<bool>& stop) override;

 private:
  std::string data_;
  size_t pos_ = 0;
};

// Bytes of a stream read as they are uploaded, such as standard input fed
// by a pipe: never all in memory, and so read only once. Rewind() succeeds
// until the first byte is read. Its size is unknown (0).
class StreamSource : public ByteSource {
 public:
  // Reads the descriptor `fd` (not owned): each Read returns the bytes that
  // have come, as soon as some have, so a live source is sent as it
  // arrives. `what` names it in messages ("standard input").
  StreamSource(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  // Reads `in` (not owned), filling each Read: for tests.
  StreamSource(std::istream* in, std::string what)
      : in_(in), what_(std::move(what)) {}
  uint64_t size() const override { return 0; }
  absl::Status Rewind() override;
  absl::StatusOr<size_t> Read(char* buf, size_t n,
                              const std::atomic<bool>& stop) override;
  std::string NoRewindReason() const override;

 private:
  const int fd_ = -1;
  std::istream* const in_ = nullptr;
  const std::string what_;
  bool read_any_ = false;
};

// Reads up to `n` bytes of the descriptor `fd` into `buf`, returning once
// some have come (0 at the end of the input). It waits in poll() slices of
// 100 ms and gives up with CANCELLED once `stop` is set: a read() blocked on
// a silent pipe could not be interrupted. `what` names it in messages.
absl::StatusOr<size_t> ReadSome(int fd, char* buf, size_t n,
                                const std::atomic<bool>& stop,
                                const std::string& what);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_BYTE_SOURCE_H_
