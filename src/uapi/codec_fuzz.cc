// Fuzzes the UAPI codec with arbitrary bytes. Checks, beyond "no crash":
//  - feeding the bytes in pieces gives the same outcome as all at once;
//  - a parsed set survives SerializeSet -> ParseRequest unchanged;
//  - the state it produces survives SerializeGet -> (as a set) -> apply ->
//    SerializeGet unchanged.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "uapi/codec.h"
#include "uapi/fake_control_api.h"

namespace zl::uapi {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  RequestParser::Status status;
  int code = 0;
  std::string set;  // SerializeSet of a complete set
  size_t used = 0;
};

Outcome FeedInPieces(std::string_view text, size_t piece) {
  RequestParser parser;
  Outcome o;
  while (o.used < text.size() &&
         parser.status() == RequestParser::Status::kNeedMore) {
    size_t n = piece == 0 ? text.size() - o.used
                          : std::min(piece, text.size() - o.used);
    o.used += parser.Feed(text.substr(o.used, n));
  }
  if (parser.status() == RequestParser::Status::kNeedMore) parser.FeedEof();
  o.status = parser.status();
  if (o.status == RequestParser::Status::kFailed ||
      o.status == RequestParser::Status::kBadOperation) {
    o.code = parser.error().code();
  }
  if (o.status == RequestParser::Status::kComplete) {
    Request r = parser.TakeRequest();
    if (r.op == Request::kSet) o.set = SerializeSet(r.config);
  }
  return o;
}

// The get answer as a set request: drop the read-only lines and the errno.
std::string GetAsSet(const std::string& get) {
  std::string set = "set=1\n";
  size_t pos = 0;
  while (pos < get.size()) {
    size_t end = get.find('\n', pos);
    std::string_view line(get.data() + pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.starts_with("errno=") ||
        line.starts_with("last_handshake_time") ||
        line.starts_with("tx_bytes=") || line.starts_with("rx_bytes=")) {
      continue;
    }
    set.append(line);
    set += '\n';
  }
  return set + "\n";
}

}  // namespace
}  // namespace zl::uapi

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zl::uapi;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  Outcome whole = FeedInPieces(text, 0);
  size_t piece = size == 0 ? 1 : size_t(data[0] % 13) + 1;
  Outcome pieces = FeedInPieces(text, piece);
  Check(whole.status == pieces.status && whole.code == pieces.code &&
        whole.set == pieces.set && whole.used == pieces.used);

  auto request = ParseRequest(text);
  if (!request.ok() || request->op != Request::kSet) return 0;

  std::string set = SerializeSet(request->config);
  auto again = ParseRequest(set);
  Check(again.ok() && again->op == Request::kSet &&
        SerializeSet(again->config) == set);

  FakeControlApi device;
  Check(device.Apply(request->config).ok());
  std::string get = SerializeGet(device.Snapshot().value());
  auto from_get = ParseRequest(GetAsSet(get));
  Check(from_get.ok());
  FakeControlApi copy;
  Check(copy.Apply(from_get->config).ok());
  Check(SerializeGet(copy.Snapshot().value()) == get);
  return 0;
}
