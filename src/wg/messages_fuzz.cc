// Fuzzes every message parser on arbitrary bytes. Whenever a parse succeeds,
// serializing the parsed value must reproduce the input exactly (for
// transport data: the 16-byte header).

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "wg/messages.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zl::wg;
  const zl::ByteSpan in(data, size);
  const std::optional<MessageType> type = ClassifyMessage(in);

  Initiation init;
  const bool is_init = ParseInitiation(in, init);
  Require(is_init == (type == MessageType::kInitiation));
  if (is_init) {
    uint8_t out[kInitiationSize];
    SerializeInitiation(init, out);
    Require(size == kInitiationSize && std::memcmp(out, data, size) == 0);
  }

  Response resp;
  const bool is_resp = ParseResponse(in, resp);
  Require(is_resp == (type == MessageType::kResponse));
  if (is_resp) {
    uint8_t out[kResponseSize];
    SerializeResponse(resp, out);
    Require(size == kResponseSize && std::memcmp(out, data, size) == 0);
  }

  CookieReply cookie;
  const bool is_cookie = ParseCookieReply(in, cookie);
  Require(is_cookie == (type == MessageType::kCookieReply));
  if (is_cookie) {
    uint8_t out[kCookieReplySize];
    SerializeCookieReply(cookie, out);
    Require(size == kCookieReplySize && std::memcmp(out, data, size) == 0);
  }

  TransportHeader hdr;
  const bool is_data = ParseTransportHeader(in, hdr);
  Require(is_data == (type == MessageType::kTransportData));
  if (is_data) {
    uint8_t out[kTransportHeaderSize];
    SerializeTransportHeader(hdr, out);
    Require(size >= kTransportMinSize &&
            std::memcmp(out, data, kTransportHeaderSize) == 0);
  }
  return 0;
}
