// Fuzzes ParseJoinToken. Each input is tried twice: as token text, and as a
// token body given a correct checksum and the prefix (so the fuzzer reaches
// the field parser instead of stopping at the checksum). Beyond "no crash":
// every refusal is EINVAL "malformed token: ...", and an accepted token
// encodes to text that parses to the same token (and the same text).

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "crypto/blake2s.h"
#include "overlay/token.h"

namespace zl::overlay {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void ParseAndReencode(std::string_view text) {
  auto token = ParseJoinToken(text);
  if (!token.ok()) {
    Check(token.error().code() == EINVAL);
    Check(token.error().message().starts_with("malformed token: "));
    return;
  }
  crypto::SecretString encoded = EncodeJoinToken(*token);
  auto again = ParseJoinToken(encoded.view());
  Check(again.ok());
  Check(EncodeJoinToken(*again).view() == encoded.view());
}

}  // namespace
}  // namespace zl::overlay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zl;
  overlay::ParseAndReencode(
      std::string_view(reinterpret_cast<const char*>(data), size));

  std::vector<uint8_t> body(data, data + size);
  crypto::Hash sum = crypto::Blake2s({body});
  body.insert(body.end(), sum.begin(), sum.begin() + 4);
  overlay::ParseAndReencode(std::string(overlay::kTokenPrefix) +
                            Base64UrlEncode(body));
  return 0;
}
