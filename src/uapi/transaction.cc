#include "uapi/transaction.h"

#include <fmt/format.h>

#include "base/log.h"

namespace zl::uapi {

void AnswerRequest(device::ControlApi& api, const Request& request,
                   crypto::SecretBuffer& out) {
  if (request.op == Request::kGet) {
    Result<device::DeviceState> state = api.Snapshot();
    if (state.ok()) {
      SerializeGet(*state, out);
    } else {
      LogError(fmt::format("UAPI: get failed: {}", state.error().message()));
      out += SerializeErrno(state.error().code());
    }
    return;
  }
  Result<void> r = api.Apply(request.config);
  if (!r.ok()) {
    LogError(fmt::format("UAPI: set failed: {}", r.error().message()));
  }
  out += SerializeErrno(r.ok() ? 0 : r.error().code());
}

TransactionEnd FinishTransaction(RequestParser& parser, device::ControlApi& api,
                                 crypto::SecretBuffer& out) {
  using Status = RequestParser::Status;
  switch (parser.status()) {
    case Status::kComplete:
      AnswerRequest(api, parser.TakeRequest(), out);
      return TransactionEnd::kAnswered;
    case Status::kFailed:
      LogError(fmt::format("UAPI: {}", parser.error().message()));
      out += SerializeErrno(parser.error().code());
      return TransactionEnd::kClose;
    case Status::kBadOperation:
      LogError(fmt::format("UAPI: {}", parser.error().message()));
      return TransactionEnd::kClose;
    case Status::kNeedMore:  // excluded by the contract
      break;
  }
  return TransactionEnd::kClose;
}

}  // namespace zl::uapi
