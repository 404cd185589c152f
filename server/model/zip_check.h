// The integrity check of a model archive's bytes before LibTorch loads them:
// a TorchScript archive is a zip file, and LibTorch's zip reader (miniz,
// built with its CRC checks off) never compares a member's bytes with the
// CRC-32 stored for it, so an archive damaged inside its weights loaded and
// was served with wrong weights. No LibTorch here: plain zip and zlib.
#ifndef STYLIZER_SERVER_MODEL_ZIP_CHECK_H_
#define STYLIZER_SERVER_MODEL_ZIP_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// Checks every member of the zip archive `bytes` (the model archive `path`,
// named in messages): the end-of-central-directory record (Zip64 included),
// each central directory entry and its local header, and the member's data
// against its stored CRC-32 and size (a deflated member is inflated to
// check). Every offset, size and count read from the file is bounds-checked:
// a truncated or hostile file gets an error, never a read past `bytes`.
//
// OK for an intact archive (and for an empty zip: nothing to check), and for
// a file LibTorch reads as a flatbuffer module rather than a zip (bytes 4-7
// "PTMF"), which has no CRCs: LibTorch checks that one itself.
// InvalidArgument otherwise, naming the file and, where one is at fault,
// the member:
//   model archive m.pt is damaged: member "m/data/3" fails its CRC-32
//   check (stored 0x1a2b3c4d, its bytes give 0x5e6f7a8b); copy the file
//   again, or re-export it with training/export_seed.py
// and, for a file with no zip directory at its end (not a zip, or cut
// short) or with members LibTorch cannot read (encrypted, compressed other
// than by deflate), the wording of the runtime's other load errors ("cannot
// load model archive m.pt (not a TorchScript archive, truncated or corrupt;
// re-export it with training/export_seed.py): ...").
absl::Status CheckZipMembers(absl::string_view bytes, absl::string_view path);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_ZIP_CHECK_H_
