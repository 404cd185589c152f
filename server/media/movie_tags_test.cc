// Tests of the tags an output keeps of its input.
#include "server/media/movie_tags.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

extern "C" {
#include <libavutil/dict.h>
}

namespace stylizer {
namespace media {
namespace {

TEST(MovieTagsTest, TheRecordingsTagsAreKeptNotItsEncodingOrPlace) {
  for (const char* kept :
       {"title", "creation_time", "language", "artist", "comment", "date",
        "TITLE", "DESCRIPTION-eng", "com.apple.quicktime.make", "album"}) {
    EXPECT_TRUE(KeepsTag(kept)) << kept;
  }
  for (const char* dropped :
       {"encoder", "ENCODER", "major_brand", "minor_version",
        "compatible_brands", "handler_name", "vendor_id", "DURATION",
        "DURATION-eng", "BPS-eng", "NUMBER_OF_FRAMES-eng",
        "_STATISTICS_WRITING_APP-eng", "_STATISTICS_TAGS", "timecode", "rotate",
        "location", "location-eng", "com.apple.quicktime.location.ISO6709",
        "GPSCoordinates"}) {
    EXPECT_FALSE(KeepsTag(dropped)) << dropped;
  }
}

TEST(MovieTagsTest, CopyKeepsOnlyTheKeptOnes) {
  AVDictionary* in = nullptr;
  av_dict_set(&in, "title", "Holiday", 0);
  av_dict_set(&in, "creation_time", "2024-05-01T10:00:00.000000Z", 0);
  av_dict_set(&in, "location", "+48.8577+002.2950/", 0);
  av_dict_set(&in, "encoder", "Lavf59", 0);
  AVDictionary* out = nullptr;
  av_dict_set(&out, "title", "replaced", 0);
  ASSERT_TRUE(CopyKeptTags(in, &out).ok());
  std::map<std::string, std::string> got;
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(out, "", e, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
    got[e->key] = e->value;
  }
  EXPECT_EQ(got, (std::map<std::string, std::string>{
                     {"title", "Holiday"},
                     {"creation_time", "2024-05-01T10:00:00.000000Z"}}));
  EXPECT_TRUE(CopyKeptTags(nullptr, &out).ok());
  av_dict_free(&in);
  av_dict_free(&out);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
