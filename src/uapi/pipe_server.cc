#include "uapi/pipe_server.h"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <optional>

#include "base/log.h"
#include "crypto/secret_buffer.h"

namespace zl::uapi {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// After an accept that failed (not a stop): the pause before the next.
constexpr auto kAcceptRetryPause = std::chrono::seconds(1);

ByteSpan Bytes(const crypto::SecretBuffer& b) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

}  // namespace

std::string PipePathForInterface(std::string_view interface_name) {
  return std::string(kPipeDirectory) + std::string(interface_name);
}

// A client thread, which owns its connection: the pipe closes as soon as
// the thread is done with it.
struct UapiPipeServer::Client {
  std::thread thread;
  std::atomic<bool> done{false};
};

Result<std::unique_ptr<UapiPipeServer>> UapiPipeServer::Start(
    std::string_view interface_name, device::ControlApi& api,
    UapiPipeServerOptions options) {
  if (options.pipe_path.empty()) {
    options.pipe_path = PipePathForInterface(interface_name);
  }
  if (options.security_descriptor.empty()) {
    options.security_descriptor = std::string(kPipeSecurityDescriptor);
  }
  auto listener = net::NamedPipeListener::Create(options.pipe_path,
                                                 options.security_descriptor);
  if (!listener.ok()) return listener.error();
  std::unique_ptr<UapiPipeServer> server(
      new UapiPipeServer(std::move(listener).value(), api, std::move(options)));
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

UapiPipeServer::UapiPipeServer(std::unique_ptr<net::NamedPipeListener> listener,
                               device::ControlApi& api,
                               UapiPipeServerOptions options)
    : path_(listener->path()),
      options_(std::move(options)),
      api_(api),
      listener_(std::move(listener)) {}

UapiPipeServer::~UapiPipeServer() { Stop(); }

void UapiPipeServer::Stop() {
  std::lock_guard lock(stop_mu_);
  if (!accept_thread_.joinable()) return;
  {
    std::lock_guard pause_lock(pause_mu_);
    stopping_ = true;
  }
  pause_cv_.notify_all();
  // Ends the accept, and every client's blocked read or write (and every
  // later one).
  listener_->Stop();
  accept_thread_.join();
  for (auto& c : clients_) c->thread.join();
  clients_.clear();
  listener_.reset();
}

void UapiPipeServer::AcceptLoop() {
  for (;;) {
    auto connection = listener_->Accept();
    if (!connection.ok()) {
      if (connection.error().code() == ECANCELED) return;
      LogError(fmt::format("UAPI: accept on {} failed: {}", path_,
                           connection.error().message()));
      std::unique_lock lock(pause_mu_);
      if (pause_cv_.wait_for(lock, kAcceptRetryPause,
                             [this] { return stopping_; })) {
        return;
      }
      continue;
    }
    std::erase_if(clients_, [](const auto& c) {
      if (!c->done) return false;
      c->thread.join();
      return true;
    });
    if (clients_.size() >= options_.max_clients) {
      LogVerbose(fmt::format("UAPI: refusing a connection: {} clients already",
                             clients_.size()));
      continue;  // closed with its PipeConnection
    }
    auto client = std::make_unique<Client>();
    client->thread =
        std::thread([this, c = client.get(),
                     pipe = std::move(connection).value()]() mutable {
          Serve(*pipe);
          pipe.reset();  // the client sees the end of the pipe now
          c->done = true;
        });
    clients_.push_back(std::move(client));
  }
}

void UapiPipeServer::Serve(net::PipeConnection& connection) {
  using Status = RequestParser::Status;
  RequestParser parser(options_.max_transaction_bytes);
  // Both may hold keys in hex (a set's private key, a get's answer): they
  // wipe whatever they drop.
  crypto::SecretBuffer in;
  in.resize(kReadChunk);
  crypto::SecretBuffer out;
  // While a transaction is under way: when it must be done. Otherwise
  // unset, and `idle_since` says since when the connection had nothing to do.
  std::optional<MonoTime> deadline;
  MonoTime idle_since = BootClock::now();
  auto finish = [&] {
    std::lock_guard lock(api_mu_);
    return FinishTransaction(parser, api_, out);
  };
  for (;;) {
    auto n = connection.Read(
        MutableByteSpan(reinterpret_cast<uint8_t*>(in.data()), in.size()),
        deadline ? *deadline : idle_since + options_.idle_timeout);
    if (!n.ok()) {
      if (n.error().code() == ETIMEDOUT) {
        LogVerbose(deadline ? "UAPI: closing a connection whose transaction "
                              "missed its deadline"
                            : "UAPI: closing an idle connection");
      } else if (n.error().code() != ECANCELED) {
        LogVerbose(fmt::format("UAPI: {}", n.error().message()));
      }
      return;
    }
    if (*n == 0) {  // the client closed: nobody is left to answer
      parser.FeedEof();
      if (parser.status() != Status::kNeedMore) finish();
      return;
    }
    if (!deadline) deadline = BootClock::now() + options_.transaction_deadline;
    ByteSpan received = Bytes(in).first(*n);
    while (!received.empty()) {
      const size_t used = parser.Feed(received);
      received = received.subspan(used);
      if (parser.status() == Status::kNeedMore) {
        if (used == 0) break;  // cannot happen: kNeedMore takes everything
        continue;
      }
      const TransactionEnd end = finish();
      // The answer, and a pipelined next transaction, get a deadline of
      // their own from when the device answered (a large set takes a while).
      deadline = BootClock::now() + options_.transaction_deadline;
      if (!out.empty()) {
        auto written = connection.Write(Bytes(out), *deadline);
        out.clear();
        if (!written.ok()) {
          if (written.error().code() != ECANCELED) {
            LogVerbose(fmt::format("UAPI: answer not sent: {}",
                                   written.error().message()));
          }
          return;
        }
      }
      if (end == TransactionEnd::kClose) return;
    }
    if (!parser.InTransaction()) {
      deadline.reset();
      idle_since = BootClock::now();
    }
  }
}

}  // namespace zl::uapi
