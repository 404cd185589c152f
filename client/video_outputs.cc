// Temp-then-rename writing of a video job's outputs; see video_outputs.h.
#include "client/video_outputs.h"

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "client/output_files.h"

namespace stylizer::client {

VideoOutputs::VideoOutputs(std::string dir, std::string stem,
                           std::vector<std::string> labels, std::string ext)
    : dir_(dir.empty() ? "." : std::move(dir)),
      stem_(std::move(stem)),
      labels_(std::move(labels)),
      ext_(std::move(ext)) {}

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
  if (summary.outputs_size() != 1 || summary.outputs(0).bytes() != written_) {
    return absl::DataLossError(absl::StrCat(
        "the server's summary does not match the ", written_,
        " bytes written to ", what_, "; the movie may be incomplete"));
  }
  return absl::OkStatus();
}

}  // namespace stylizer::client
