// EXIF orientation of photos (JPEG's EXIF segment, PNG's eXIf chunk). Cameras
// and phones store the sensor's picture as it was read out and a tag (EXIF
// 0x0112, values 1-8) that tells viewers how to turn it upright: a portrait
// photo from a phone is usually a landscape picture tagged "rotate 90 degrees
// clockwise" (6). The service drops metadata, so it turns the pixels instead,
// and its outputs look as the input does in a viewer.
#ifndef STYLIZER_SERVER_SERVICE_IMAGE_ORIENTATION_H_
#define STYLIZER_SERVER_SERVICE_IMAGE_ORIENTATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/batching/job_queue.h"

namespace stylizer {

// Whether the contents of a JPEG APP1 segment (after its length) are EXIF:
// they start "Exif\0\0" (XMP, say, is an APP1 segment too).
bool IsExifSegment(absl::string_view app1_body);

// The orientation (1-8) that the contents of a JPEG APP1 segment (after its
// length: "Exif\0\0", then a TIFF header and IFD0) give, or 0 if the segment
// is not EXIF, has no orientation tag in IFD0, or is malformed (then the
// picture is left as it is, as viewers do). Every offset is checked against
// the segment's size.
int ExifOrientation(absl::string_view app1_body);

// The same from the EXIF data itself (a TIFF header and IFD0), as a PNG's
// eXIf chunk holds it.
int TiffOrientation(absl::string_view tiff);

// Turns `frame` as EXIF orientation `orientation` says to show it: 2 mirror
// left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose, 6 rotate 90
// clockwise, 7 transverse, 8 rotate 90 counter-clockwise (5-8 swap width and
// height). 0 and 1 leave it alone; other values are INVALID_ARGUMENT.
absl::Status ApplyExifOrientation(int orientation, RgbFrame* frame);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IMAGE_ORIENTATION_H_
