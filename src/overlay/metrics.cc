#include "overlay/metrics.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace zl::overlay {
namespace {

constexpr std::string_view kGauge = "gauge";
constexpr std::string_view kCounter = "counter";
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

bool IsAsciiLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// [first-char class][rest-char class]*, where digits never lead and ':' is
// allowed when `colon`.
bool IsValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || (colon && c == ':') ||
                    (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629:
// no overlong forms, no surrogates, nothing past U+10FFFF); 0 if there is
// none.
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  size_t length;
  uint8_t second_min = 0x80;
  uint8_t second_max = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  if (byte(1) < second_min || byte(1) > second_max) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// Appends `text` escaped for a label value (`quote`) or a help text:
// backslash and newline always, the double quote only in label values.
void AppendEscaped(std::string_view text, bool quote, std::string& out) {
  while (!text.empty()) {
    const size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      out += kReplacementCharacter;
      text.remove_prefix(1);
      continue;
    }
    const char c = text[0];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
}

// Go's ParseFloat reads all of these; integers print without an exponent
// while they are exact in a double.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  if (value == std::trunc(value) && std::fabs(value) < kExactIntegers) {
    return std::to_string(static_cast<int64_t>(value));
  }
  std::array<char, 32> buf;
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc()) return "NaN";  // cannot happen: 32 bytes always fit
  return std::string(buf.data(), end);
}

Error NameError(std::string_view what, std::string_view name) {
  return MakeError(EINVAL, "metrics: invalid " + std::string(what) + " \"" +
                               std::string(name) + "\"");
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  return IsValidName(name, /*colon=*/true);
}

bool IsValidLabelName(std::string_view name) {
  return IsValidName(name, /*colon=*/false) && !name.starts_with("__");
}

Result<void> MetricsWriter::Gauge(std::string_view name, std::string_view help,
                                  const MetricLabels& labels, double value) {
  return Add(kGauge, name, help, labels, value);
}

Result<void> MetricsWriter::Counter(std::string_view name,
                                    std::string_view help,
                                    const MetricLabels& labels, double value) {
  if (value < 0) {
    return MakeError(EINVAL, "metrics: counter " + std::string(name) +
                                 " is negative: " + FormatValue(value));
  }
  return Add(kCounter, name, help, labels, value);
}

Result<void> MetricsWriter::Add(std::string_view type, std::string_view name,
                                std::string_view help,
                                const MetricLabels& labels, double value) {
  if (!IsValidMetricName(name)) return NameError("metric name", name);
  std::string label_set;
  for (const auto& [label, label_value] : labels) {
    if (!IsValidLabelName(label)) {
      return NameError("label name", label).Wrap(std::string(name));
    }
    label_set += label_set.empty() ? "{" : ",";
    label_set += label;
    label_set += "=\"";
    AppendEscaped(label_value, /*quote=*/true, label_set);
    label_set += '"';
  }
  if (!label_set.empty()) label_set += '}';

  auto [it, added] = index_by_name_.try_emplace(std::string(name),
                                                families_.size());
  if (added) {
    families_.push_back(Family{std::string(name), std::string(help), type, {},
                               {}});
  }
  Family& family = families_[it->second];
  if (family.type != type) {
    return MakeError(EINVAL, "metrics: " + family.name + " is a " +
                                 std::string(family.type) + ", not a " +
                                 std::string(type));
  }
  if (!family.label_sets.insert(label_set).second) {
    return MakeError(EEXIST, "metrics: " + family.name + label_set +
                                 " was already written");
  }
  family.samples.push_back(family.name + label_set + " " + FormatValue(value));
  return Ok();
}

std::string MetricsWriter::Finish() {
  std::string out;
  for (const Family& family : families_) {
    out += "# HELP " + family.name + " ";
    AppendEscaped(family.help, /*quote=*/false, out);
    out += "\n# TYPE " + family.name + " " + std::string(family.type) + "\n";
    for (const std::string& sample : family.samples) {
      out += sample;
      out += '\n';
    }
  }
  families_.clear();
  index_by_name_.clear();
  return out;
}

}  // namespace zl::overlay
