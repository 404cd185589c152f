// Checks of the container structure of PNG and JPEG files, done before the
// bytes reach FFmpeg's decoders: a truncated or damaged file is refused (the
// decoders would return a partly grey picture), PNG metadata chunks that the
// PNG decoder would inflate without any bound are dropped, and a JPEG is
// refused if FFmpeg would decode another picture than its first frame header
// declares or spend unbounded time on its scans.
#ifndef STYLIZER_SERVER_SERVICE_IMAGE_STRUCTURE_H_
#define STYLIZER_SERVER_SERVICE_IMAGE_STRUCTURE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// Walks the chunks of the PNG file `png` (signature already checked) and
// returns the file without its zTXt, iTXt and iCCP chunks: compressed text
// and colour profiles, which FFmpeg's PNG decoder inflates into memory with no
// limit (a 1 MiB chunk can inflate to 1 GiB) and which the service never
// uses. INVALID_ARGUMENT if a chunk is cut off, a chunk's CRC does not match,
// the file has no image data (IDAT) or ends before its IEND chunk, or the
// image data is not a zlib stream that inflates to every row the header
// declares (inflated once, counted, not kept).
//
// With `orientation`, also stores there the EXIF orientation (1-8) of the
// first eXIf chunk, or 0 if there is none (image_orientation.h).
absl::StatusOr<std::string> CheckPngAndDropMetadata(absl::string_view png,
                                                    int* orientation = nullptr);

// The most scans (start-of-scan segments) a JPEG may have. FFmpeg's decoder
// makes a pass over every block of a component for each scan, so a file that
// repeats a tiny scan costs time in proportion to the scan count and the
// picture's size, not to its own size: a 1 MB 4096x2160 file with 40000
// scans of 25 bytes took 11 s, and a decode cannot be cancelled. Real files
// have few: one (or one per component) for baseline, 10 for libjpeg's
// default progression (6 for grey), a few dozen at most for optimised ones
// (mozjpeg). 256 still allows a script that sends each of the 64
// coefficients of 3 components in a scan of its own. Measured at 4096x2160:
// one scan decodes in 0.04 s, libjpeg's 10-scan colour progression in
// 0.12 s, and 256 scans of the kind above in 0.10 s (grey) to 0.14 s
// (colour). Scans that code every block (DC scans) cost about the same per
// block, but take at least a bit per block of the file, so their cost
// follows the file's size.
inline constexpr int kMaxJpegScans = 256;

// Walks the segments of the JPEG file `jpeg` (SOI already checked) by their
// lengths, skipping the entropy-coded data after each start-of-scan, up to
// its end-of-image marker, and returns the file as FFmpeg's decoder is to
// see it: the same segments, without the metadata segments (APPn, except
// Adobe's APP14, which says how the colour components are coded), the stray
// bytes between segments and anything after the end-of-image marker, and
// with two 0xFF fill bytes after each scan's entropy-coded data.
//
// INVALID_ARGUMENT if the file ends first (a truncated download or upload),
// a segment length is invalid or does not match a frame header's or
// quantisation table's contents, a scan header is invalid or comes before
// the frame header, there is no frame header (SOFn) before the end, more
// than one (the probe reads the first, FFmpeg decodes with the last), more
// than kMaxJpegScans scans, or a marker outside baseline, extended,
// progressive and lossless Huffman-coded JPEG (SOF5-15, DAC, DNL, DHP, EXP,
// JPGn), which FFmpeg cannot decode and does not skip by length.
//
// Why a copy: FFmpeg does not skip every segment by its length. It finds
// markers by looking for 0xFF bytes, going on from where its parser stopped
// reading: one byte short of the end of an APPn segment, or past the end of
// some (an APP0 "AVI1" of 6 bytes); and after a scan, from the byte after
// the last one its entropy decoder read, which a crafted scan makes the 0xFF
// of the next marker. It then looks for markers inside the next segment and
// finds the frame headers and scans hidden there (an EXIF thumbnail is even
// a whole JPEG), which this walk never counted. Without the metadata
// segments, and with the fill bytes, FFmpeg finds exactly the markers that
// the walk did.
//
// With `orientation`, also stores there the EXIF orientation (1-8) of the
// first EXIF APP1 segment, or 0 if there is none (image_orientation.h).
absl::StatusOr<std::string> CheckJpegAndDropMetadata(
    absl::string_view jpeg, int* orientation = nullptr);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IMAGE_STRUCTURE_H_
