#pragma once
// MetricsWriter: renders metrics in the Prometheus text exposition format
// 0.0.4 (what `--metrics-listen` serves, DESIGN.md §5 Observability).
//
// Samples are added one at a time; samples of the same metric name are
// grouped into one family, written as one block with its `# HELP` and
// `# TYPE` lines once, in the order the families were first added. Label
// values and help texts are escaped (backslash, double quote in label
// values, newline), and bytes that are not valid UTF-8 become U+FFFD, so no
// input can make the scrape unparsable. Metric and label names are checked
// against the format's grammar; a bad name, a name reused with another type,
// a repeated label set or a negative counter is refused with EINVAL/EEXIST
// and writes nothing.
//
// Thread safety: a value type; one writer per rendering, not shared.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/result.h"

namespace zl::overlay {

// The Content-Type to serve the text with.
inline constexpr std::string_view kMetricsContentType =
    "text/plain; version=0.0.4; charset=utf-8";

using MetricLabels = std::map<std::string, std::string>;

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved by Prometheus).
bool IsValidLabelName(std::string_view name);

class MetricsWriter {
 public:
  // A value that can go up and down.
  Result<void> Gauge(std::string_view name, std::string_view help,
                     const MetricLabels& labels, double value);
  // A value that only goes up (by convention, named `..._total`).
  // REQUIRES: value >= 0 (else EINVAL).
  Result<void> Counter(std::string_view name, std::string_view help,
                       const MetricLabels& labels, double value);

  // The text of everything added so far; the writer is empty afterwards.
  std::string Finish();

 private:
  struct Family {
    std::string name;
    std::string help;  // the first one given for the name
    std::string_view type;
    std::vector<std::string> samples;            // rendered lines
    std::unordered_set<std::string> label_sets;  // rendered, for duplicates
  };

  Result<void> Add(std::string_view type, std::string_view name,
                   std::string_view help, const MetricLabels& labels,
                   double value);

  std::vector<Family> families_;
  std::unordered_map<std::string, size_t> index_by_name_;
};

}  // namespace zl::overlay
