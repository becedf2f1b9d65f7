#pragma once
// One UAPI transaction, answered: what every UAPI server (the unix socket of
// uapi/server.h, the named pipe of uapi/pipe_server.h) does once its
// RequestParser has stopped on a transaction, whatever carries the bytes.
//
// A complete get calls ControlApi::Snapshot and answers the state (or, if the
// snapshot fails, its errno: never an empty configuration that a client such
// as `wg-quick save` would take for the real one); a complete set calls
// ControlApi::Apply and answers its errno. A bad set line is answered with its
// errno and ends the connection; a first line that is not get=1/set=1 ends it
// without an answer (as wireguard-go). Failures are logged without secrets.
//
// Thread safety: pure apart from the ControlApi call; the caller decides
// which thread calls the ControlApi (uapi/server.h: one thread; the pipe
// server: one transaction at a time).

#include <chrono>
#include <cstddef>

#include "base/clock.h"
#include "crypto/secret_buffer.h"
#include "device/config.h"
#include "uapi/codec.h"

namespace zl::uapi {

// The bounds every UAPI server keeps on its clients (each server's header
// says how): at most max_clients connections (more are accepted and closed
// at once); at most max_transaction_bytes per transaction; each transaction
// received, and its answer sent, within transaction_deadline of its first
// byte (the answer gets a fresh one once the ControlApi returns), so a client
// that trickles bytes cannot hold a slot; a connection with no transaction
// under way for idle_timeout is closed.
struct UapiLimits {
  size_t max_clients = 16;
  Duration idle_timeout = std::chrono::seconds(60);
  Duration transaction_deadline = std::chrono::seconds(10);
  size_t max_transaction_bytes = kMaxTransactionBytes;
};

// Appends the answer to `request` to `out` (which wipes what it drops: a get
// answer holds the private key).
void AnswerRequest(device::ControlApi& api, const Request& request,
                   crypto::SecretBuffer& out);

enum class TransactionEnd {
  kAnswered,  // answered; the connection goes on to the next transaction
  kClose,     // the connection ends once `out` is sent (maybe no answer)
};

// Handles the transaction `parser` has stopped on: answers a complete one
// (and readies the parser for the next), or appends the errno answer of a
// bad set line, or nothing for a bad first line.
// REQUIRES: parser.status() != RequestParser::Status::kNeedMore.
TransactionEnd FinishTransaction(RequestParser& parser, device::ControlApi& api,
                                 crypto::SecretBuffer& out);

}  // namespace zl::uapi
