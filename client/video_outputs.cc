// Temp-then-rename writing of a video job's outputs; see video_outputs.h.
#include "client/video_outputs.h"

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/output_files.h"

namespace stylizer::client {

bool BeginsAsMovie(absl::string_view head, bool matroska) {
  if (matroska) return absl::StartsWith(head, "\x1a\x45\xdf\xa3");
  if (head.size() < kMovieSignatureBytes) return false;
  const uint32_t size = (uint32_t{static_cast<unsigned char>(head[0])} << 24) |
                        (uint32_t{static_cast<unsigned char>(head[1])} << 16) |
                        (uint32_t{static_cast<unsigned char>(head[2])} << 8) |
                        uint32_t{static_cast<unsigned char>(head[3])};
  if (size != 0 && size != 1 && size < 8) return false;
  const absl::string_view type = head.substr(4, 4);
  for (absl::string_view first :
       {"ftyp", "styp", "moov", "moof", "mdat", "free", "skip", "wide"}) {
    if (type == first) return true;
  }
  return false;
}

absl::Status NotAMovie(uint32_t index, absl::string_view label,
                       absl::string_view head, bool matroska) {
  const std::string output =
      label.empty() ? absl::StrCat("output ", index)
                    : absl::StrCat("output ", index, " (", label, ")");
  const char* movie = matroska ? "a Matroska movie" : "an MP4 movie";
  if (head.size() < kMovieSignatureBytes) {
    return absl::DataLossError(absl::StrCat(
        "the server returned ", output, " as ", head.size(),
        " bytes that are not ", movie, "; nothing was written for this input"));
  }
  // Its first bytes in hex (they are the server's: no text of it is shown).
  std::string begin;
  for (size_t i = 0; i < kMovieSignatureBytes; ++i) {
    absl::StrAppendFormat(&begin, "%s%02x", i == 0 ? "" : " ",
                          static_cast<unsigned char>(head[i]));
  }
  return absl::DataLossError(absl::StrCat(
      "the server returned ", output, " as bytes that are not ", movie,
      " (they begin ", begin, "); nothing was written for this input"));
}

VideoOutputs::VideoOutputs(std::string dir, std::string stem,
                           std::vector<std::string> labels, std::string ext)
    : dir_(dir.empty() ? "." : std::move(dir)),
      stem_(std::move(stem)),
      labels_(std::move(labels)),
      ext_(std::move(ext)),
      matroska_(absl::AsciiStrToLower(ext_) == "mkv") {}

VideoOutputs::~VideoOutputs() {
  if (!committed_) Discard();
}

std::vector<std::string> VideoOutputs::Paths() const {
  return OutputPaths(dir_, stem_, labels_, ext_);
}

absl::Status VideoOutputs::OnAccepted(const stylizer::v1::JobAccepted& accepted) {
  accepted_ = accepted;
  return absl::OkStatus();
}

absl::Status VideoOutputs::OnChunk(uint32_t index, absl::string_view data) {
  if (index >= labels_.size()) {
    return absl::InternalError(absl::StrCat(
        "the server sent output ", index, " but only ", labels_.size(),
        " were requested"));
  }
  // Checked before the first byte is written: bytes that are not a movie
  // (a broken server's, or one that is not a stylizer server) were saved
  // as one.
  std::string& head = heads_[index];
  if (head.size() < kMovieSignatureBytes) {
    absl::StrAppend(&head, data.substr(0, kMovieSignatureBytes - head.size()));
    if (head.size() == kMovieSignatureBytes &&
        !BeginsAsMovie(head, matroska_)) {
      return NotAMovie(index, labels_[index], head, matroska_);
    }
  }
  auto& file = files_[index];
  if (file == nullptr) {
    if (files_.size() == 1) {
      if (absl::Status s = EnsureDirectory(dir_, &made_dir_); !s.ok()) {
        return s;
      }
    }
    auto created = AtomicFile::Create(OutputPath(dir_, stem_, labels_[index], ext_));
    if (!created.ok()) return created.status();
    file = *std::move(created);
  }
  return file->Append(data);
}

std::string SkippedPacketsWarning(const stylizer::v1::JobSummary& summary,
                                  absl::string_view about) {
  const uint64_t n = summary.skipped_packets();
  if (n == 0) return "";
  return absl::StrCat(
      "stylizer: warning: ", about, about.empty() ? "" : ": ", n,
      " damaged video packet", n == 1 ? " was" : "s were",
      " skipped, as ffmpeg skips them: the outputs are missing ",
      n == 1 ? "its frame" : "their frames");
}

absl::Status VideoOutputs::OnSummary(const stylizer::v1::JobSummary& summary) {
  summary_ = summary;
  have_summary_ = true;
  return absl::OkStatus();
}

absl::Status VideoOutputs::Commit() {
  if (!have_summary_) {
    return absl::InternalError("the job ended without a summary");
  }
  for (uint32_t i = 0; i < labels_.size(); ++i) {
    auto it = files_.find(i);
    if (it == files_.end() || it->second->size() == 0) {
      return absl::DataLossError(absl::StrCat(
          "the server sent no bytes for output ", i, " (", labels_[i], ")"));
    }
    // Fewer bytes than tell a movie: never checked as they came.
    if (const std::string& head = heads_[i];
        head.size() < kMovieSignatureBytes) {
      return NotAMovie(i, labels_[i], head, matroska_);
    }
  }
  // Every output's bytes must be in the summary and match what arrived: a
  // summary that leaves an output out (or says 0 bytes) proves nothing.
  for (uint32_t i = 0; i < labels_.size(); ++i) {
    const stylizer::v1::OutputSummary* listed = nullptr;
    for (const auto& out : summary_.outputs()) {
      if (out.output_index() == i) listed = &out;
    }
    const uint64_t arrived = files_.at(i)->size();
    if (listed == nullptr) {
      return absl::DataLossError(absl::StrCat(
          "the server's summary does not list output ", i, " (", labels_[i],
          "): its ", arrived, " bytes cannot be checked"));
    }
    if (listed->bytes() != arrived) {
      return absl::DataLossError(
          absl::StrCat("output ", i, " is incomplete: ", arrived,
                       " bytes arrived, the server wrote ", listed->bytes()));
    }
  }
  // Checked again before the first rename, so that a directory made at an
  // output's path during the job fails it before any output is in place.
  std::vector<std::string> finals;
  for (const auto& [index, file] : files_) finals.push_back(file->final_path());
  if (absl::Status s = CheckOutputTargets(finals); !s.ok()) return s;
  std::vector<AtomicFile*> in_order;
  for (auto& [index, file] : files_) in_order.push_back(file.get());
  if (absl::Status s = CommitAll(in_order); !s.ok()) return s;
  committed_ = true;
  return absl::OkStatus();
}

void VideoOutputs::Discard() {
  files_.clear();  // each AtomicFile deletes its temporary file
  RemoveMadeDirectories(dir_, made_dir_);  // only if empty
  made_dir_.clear();
}

absl::Status StreamVideoOutput::OnChunk(uint32_t output_index,
                                        absl::string_view data) {
  if (output_index != 0) {
    return absl::InternalError(absl::StrCat(
        "the server sent output ", output_index, " of a job with one output"));
  }
  if (checked_) return Write(data);
  // Held until they tell a movie: a byte written cannot be taken back.
  absl::StrAppend(&head_, data);
  if (head_.size() < kMovieSignatureBytes) return absl::OkStatus();
  if (!BeginsAsMovie(head_, matroska_)) {
    return NotAMovie(0, "", head_, matroska_);
  }
  checked_ = true;
  const absl::Status written = Write(head_);
  head_.clear();
  head_.shrink_to_fit();
  return written;
}

absl::Status StreamVideoOutput::Write(absl::string_view data) {
  errno = 0;
  out_->write(data.data(), static_cast<std::streamsize>(data.size()));
  out_->flush();
  if (!out_->good()) {
    return WriteFailed(what_, errno);
  }
  written_ += data.size();
  return absl::OkStatus();
}

absl::Status StreamVideoOutput::OnSummary(
    const stylizer::v1::JobSummary& summary) {
  if (!checked_) {
    if (head_.empty()) {
      return absl::DataLossError("the server sent no bytes for output 0");
    }
    return NotAMovie(0, "", head_, matroska_);
  }
  if (summary.outputs_size() != 1 || summary.outputs(0).bytes() != written_) {
    return absl::DataLossError(absl::StrCat(
        "the server's summary does not match the ", written_,
        " bytes written to ", what_, "; the movie may be incomplete"));
  }
  return absl::OkStatus();
}

}  // namespace stylizer::client
