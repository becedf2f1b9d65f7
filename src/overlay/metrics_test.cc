#include "overlay/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace zl::overlay {
namespace {

TEST(MetricsWriterTest, WritesOneSampleWithHelpAndType) {
  MetricsWriter writer;
  ASSERT_TRUE(writer.Gauge("zl_peers", "Configured peers.", {}, 3).ok());
  EXPECT_EQ(writer.Finish(),
            "# HELP zl_peers Configured peers.\n"
            "# TYPE zl_peers gauge\n"
            "zl_peers 3\n");
}

TEST(MetricsWriterTest, GroupsLabelSetsUnderOneHelpAndType) {
  MetricsWriter writer;
  ASSERT_TRUE(writer
                  .Counter("zl_peer_rx_bytes_total", "Bytes received.",
                           {{"peer", "a"}}, 10)
                  .ok());
  ASSERT_TRUE(
      writer.Gauge("zl_peer_up", "1 when the peer is up.", {{"peer", "a"}}, 1)
          .ok());
  ASSERT_TRUE(writer
                  .Counter("zl_peer_rx_bytes_total", "Bytes received.",
                           {{"peer", "b"}}, 20)
                  .ok());
  ASSERT_TRUE(
      writer.Gauge("zl_peer_up", "1 when the peer is up.", {{"peer", "b"}}, 0)
          .ok());
  EXPECT_EQ(writer.Finish(),
            "# HELP zl_peer_rx_bytes_total Bytes received.\n"
            "# TYPE zl_peer_rx_bytes_total counter\n"
            "zl_peer_rx_bytes_total{peer=\"a\"} 10\n"
            "zl_peer_rx_bytes_total{peer=\"b\"} 20\n"
            "# HELP zl_peer_up 1 when the peer is up.\n"
            "# TYPE zl_peer_up gauge\n"
            "zl_peer_up{peer=\"a\"} 1\n"
            "zl_peer_up{peer=\"b\"} 0\n");
}

TEST(MetricsWriterTest, LabelsAreSortedByName) {
  MetricsWriter writer;
  ASSERT_TRUE(writer
                  .Gauge("zl_peer_health", "Health.",
                         {{"state", "up"}, {"peer", "n1"}, {"address", "x"}}, 1)
                  .ok());
  EXPECT_NE(writer.Finish().find(
                "zl_peer_health{address=\"x\",peer=\"n1\",state=\"up\"} 1\n"),
            std::string::npos);
}

TEST(MetricsWriterTest, EscapesLabelValues) {
  struct Case {
    std::string value;
    std::string written;
  };
  const Case cases[] = {
      {"plain", "plain"},
      {"back\\slash", "back\\\\slash"},
      {"say \"hi\"", "say \\\"hi\\\""},
      {"two\nlines", "two\\nlines"},
      {"\\\"\n", "\\\\\\\"\\n"},
      {"tab\there", "tab\there"},        // only the three are escaped
      {"caf\xC3\xA9", "caf\xC3\xA9"},    // UTF-8 passes through
      {"bad\xFF", "bad\xEF\xBF\xBD"},    // not UTF-8: U+FFFD
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},  // overlong '/'
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // surrogate
      {"cut\xE2\x82", "cut\xEF\xBF\xBD\xEF\xBF\xBD"},  // truncated sequence
      {"", ""},
  };
  for (const Case& c : cases) {
    MetricsWriter writer;
    ASSERT_TRUE(writer.Gauge("m", "h", {{"l", c.value}}, 1).ok());
    EXPECT_EQ(writer.Finish(),
              "# HELP m h\n# TYPE m gauge\nm{l=\"" + c.written + "\"} 1\n")
        << c.value;
  }
}

TEST(MetricsWriterTest, EscapesHelpButNotItsQuotes) {
  MetricsWriter writer;
  ASSERT_TRUE(writer.Gauge("m", "a \"b\"\\c\nd", {}, 1).ok());
  EXPECT_EQ(writer.Finish(),
            "# HELP m a \"b\"\\\\c\\nd\n# TYPE m gauge\nm 1\n");
}

TEST(MetricsWriterTest, KeepsTheFirstHelpOfAFamily) {
  MetricsWriter writer;
  ASSERT_TRUE(writer.Gauge("m", "first", {{"l", "1"}}, 1).ok());
  ASSERT_TRUE(writer.Gauge("m", "second", {{"l", "2"}}, 2).ok());
  EXPECT_EQ(writer.Finish(),
            "# HELP m first\n# TYPE m gauge\nm{l=\"1\"} 1\nm{l=\"2\"} 2\n");
}

TEST(MetricsWriterTest, FormatsValues) {
  struct Case {
    double value;
    const char* written;
  };
  const Case cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {42, "42"},
      {-7, "-7"},
      {1e15, "1000000000000000"},
      {9007199254740991.0, "9007199254740991"},
      {0.25, "0.25"},
      {1.5e-3, "0.0015"},
      {1e300, "1e+300"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
  };
  for (const Case& c : cases) {
    MetricsWriter writer;
    ASSERT_TRUE(writer.Gauge("m", "h", {}, c.value).ok());
    EXPECT_EQ(writer.Finish(), std::string("# HELP m h\n# TYPE m gauge\nm ") +
                                   c.written + "\n");
  }
}

TEST(MetricsNamesTest, MetricNames) {
  for (const char* good : {"a", "_a", "zl_peer_rx_bytes_total", "ns:sub:m",
                           ":colon", "A9_b"}) {
    EXPECT_TRUE(IsValidMetricName(good)) << good;
  }
  for (const char* bad : {"", "9a", "a-b", "a b", "a.b", "é", "a{", "a\n"}) {
    EXPECT_FALSE(IsValidMetricName(bad)) << bad;
  }
}

TEST(MetricsNamesTest, LabelNames) {
  for (const char* good : {"peer", "_x", "a9", "A_b", "_"}) {
    EXPECT_TRUE(IsValidLabelName(good)) << good;
  }
  for (const char* bad :
       {"", "9a", "a:b", "a-b", "__name__", "__reserved", "a b", "\""}) {
    EXPECT_FALSE(IsValidLabelName(bad)) << bad;
  }
}

TEST(MetricsWriterTest, RefusesBadNamesAndWritesNothing) {
  MetricsWriter writer;
  auto bad_metric = writer.Gauge("bad-name", "h", {}, 1);
  ASSERT_FALSE(bad_metric.ok());
  EXPECT_EQ(bad_metric.error().code(), EINVAL);
  EXPECT_NE(bad_metric.error().message().find("bad-name"), std::string::npos);
  auto bad_label = writer.Gauge("m", "h", {{"bad label", "v"}}, 1);
  ASSERT_FALSE(bad_label.ok());
  EXPECT_EQ(bad_label.error().code(), EINVAL);
  EXPECT_NE(bad_label.error().message().find("bad label"), std::string::npos);
  EXPECT_FALSE(writer.Gauge("m", "h", {{"__name__", "v"}}, 1).ok());
  EXPECT_EQ(writer.Finish(), "");
}

TEST(MetricsWriterTest, RefusesANameReusedWithAnotherType) {
  MetricsWriter writer;
  ASSERT_TRUE(writer.Counter("m", "h", {{"l", "1"}}, 1).ok());
  auto gauge = writer.Gauge("m", "h", {{"l", "2"}}, 2);
  ASSERT_FALSE(gauge.ok());
  EXPECT_EQ(gauge.error().code(), EINVAL);
  EXPECT_EQ(writer.Finish(), "# HELP m h\n# TYPE m counter\nm{l=\"1\"} 1\n");
}

TEST(MetricsWriterTest, RefusesARepeatedLabelSet) {
  MetricsWriter writer;
  ASSERT_TRUE(writer.Gauge("m", "h", {{"l", "1"}}, 1).ok());
  auto again = writer.Gauge("m", "h", {{"l", "1"}}, 2);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EEXIST);
  ASSERT_TRUE(writer.Gauge("m", "h", {}, 3).ok());  // no labels is another set
  EXPECT_EQ(writer.Finish(),
            "# HELP m h\n# TYPE m gauge\nm{l=\"1\"} 1\nm 3\n");
}

TEST(MetricsWriterTest, RefusesANegativeCounter) {
  MetricsWriter writer;
  auto negative = writer.Counter("m_total", "h", {}, -1);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code(), EINVAL);
  EXPECT_TRUE(writer.Gauge("g", "h", {}, -1).ok());  // gauges may go below 0
  EXPECT_EQ(writer.Finish(), "# HELP g h\n# TYPE g gauge\ng -1\n");
}

TEST(MetricsWriterTest, FinishEmptiesTheWriter) {
  MetricsWriter writer;
  EXPECT_EQ(writer.Finish(), "");
  ASSERT_TRUE(writer.Gauge("m", "h", {}, 1).ok());
  EXPECT_FALSE(writer.Finish().empty());
  EXPECT_EQ(writer.Finish(), "");
  // The same series may be written again in the next rendering.
  ASSERT_TRUE(writer.Gauge("m", "h", {}, 2).ok());
  EXPECT_EQ(writer.Finish(), "# HELP m h\n# TYPE m gauge\nm 2\n");
}

}  // namespace
}  // namespace zl::overlay
