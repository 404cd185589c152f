// Sources of upload bytes for StylizeVideo: a file on disk or bytes in memory,
// which Rewind() lets a retry upload again, and a pipe (standard input),
// which can be read once.
#ifndef STYLIZER_CLIENT_BYTE_SOURCE_H_
#define STYLIZER_CLIENT_BYTE_SOURCE_H_

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
  // Reads up to `n` bytes into `buf`; 0 means the end was reached.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
  // Why Rewind() would fail now (bytes were read that cannot be read
  // again), or empty.
  virtual std::string NoRewindReason() const { return std::string(); }
};

// Bytes of a regular file, read as they are uploaded (never all in memory).
class FileSource : public ByteSource {
 public:
  // Opens `path`. NotFound if missing, InvalidArgument if not a regular file
  // or empty.
  static absl::StatusOr<std::unique_ptr<FileSource>> Open(
      const std::string& path);
  ~FileSource() override;
  uint64_t size() const override { return size_; }
  absl::Status Rewind() override;
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  FileSource(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_;
  uint64_t size_;
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
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  std::string data_;
  size_t pos_ = 0;
};

// Bytes of a stream read as they are uploaded, such as standard input fed
// by a pipe: never all in memory, and so read only once. Rewind() succeeds
// until the first byte is read. Its size is unknown (0).
class StreamSource : public ByteSource {
 public:
  // Reads `in` (not owned); `what` names it in messages ("standard input").
  StreamSource(std::istream* in, std::string what)
      : in_(in), what_(std::move(what)) {}
  uint64_t size() const override { return 0; }
  absl::Status Rewind() override;
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;
  std::string NoRewindReason() const override;

 private:
  std::istream* const in_;
  const std::string what_;
  bool read_any_ = false;
};

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_BYTE_SOURCE_H_
