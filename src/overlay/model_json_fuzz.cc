// Fuzzes the JSON wire format (model_json.h) with arbitrary text. Beyond "no
// crash, no throw": whatever a reader accepts, its ToJson is accepted again
// and gives the same JSON (so a value relayed by a node means the same thing
// to the next), and every refusal is EINVAL with a message.

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "overlay/model_json.h"

namespace zl::overlay {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

template <typename FromJson>
void RoundTrip(const nlohmann::json& j, FromJson from_json) {
  auto value = from_json(j);
  if (!value.ok()) {
    Check(value.error().code() == EINVAL && !value.error().message().empty());
    return;
  }
  const nlohmann::json again = ToJson(*value);
  auto reread = from_json(again);
  Check(reread.ok());
  Check(ToJson(*reread) == again);
  // And through text, as it goes over the wire.
  auto parsed = ParseJson(DumpJson(again));
  Check(parsed.ok() && *parsed == again);
}

}  // namespace
}  // namespace zl::overlay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zl::overlay;
  auto j =
      ParseJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!j.ok()) {
    Check(j.error().code() == EINVAL);
    return 0;
  }
  (void)DumpJson(*j);
  RoundTrip(*j, ParamsFromJson);
  RoundTrip(*j, MemberFromJson);
  RoundTrip(*j, TokenRecordFromJson);
  RoundTrip(*j, DnsRecordFromJson);
  RoundTrip(*j, ChangeFromJson);
  RoundTrip(*j, DeltaFromJson);
  RoundTrip(*j, SnapshotFromJson);
  // Wire messages are often one of these wrapped in an object.
  if (j->is_object()) {
    for (auto it = j->begin(); it != j->end(); ++it) {
      RoundTrip(*it, MemberFromJson);
      RoundTrip(*it, SnapshotFromJson);
      RoundTrip(*it, DeltaFromJson);
    }
  }
  return 0;
}
