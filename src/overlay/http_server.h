#pragma once
// HttpServer: the overlay's HTTP/1.1 server, on libmicrohttpd.
//
// It serves one listening socket that the caller creates: a unix stream
// socket (the local API, DIR/control.sock, mode 0600) or a TCP socket (the
// control node's peer API on its overlay address). The server is
// event-driven (libmicrohttpd's epoll mode, one internal thread), so it holds
// 10,000+ idle connections such as watch long-polls without a thread each.
//
// Requests are handed to the Handler on the server thread with a responder.
// The handler answers at once (Respond inside the call) or later, from any
// thread: a long-poll keeps the responder and answers when something changes
// or its deadline passes (the connection is suspended meanwhile and costs no
// CPU). A responder dropped without an answer answers 500. A client that goes
// away before the answer makes Respond a no-op (closed() turns true).
//
// Limits: request bodies over max_body_bytes are answered 413 without
// calling the handler; past max_connections open connections, new ones wait
// unaccepted in the listen backlog (the kernel refuses what does not fit)
// until one closes; a connection idle for idle_timeout (no request in
// progress, nothing suspended) is closed.
//
// Thread safety: Start/Stop from one owning thread (never from a handler);
// Respond from any thread, also after the server is gone (then a no-op).
// Stop() closes every connection (suspended ones are answered 503, given up
// to a second to go out), joins the thread and closes the listening socket;
// no handler runs after it.
//
// Start raises the process's open-file soft limit to its hard limit
// (RaiseFileLimit): every connection costs a descriptor.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/ip.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace zl::overlay {

struct HttpRequest {
  std::string method;  // "GET", "POST", "DELETE", ...
  std::string path;    // without the query: "/v1/members"
  std::map<std::string, std::string> query;  // decoded
  std::string body;
  // The TCP peer's address; nullopt on a unix socket.
  std::optional<Endpoint> remote;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  // Sends the answer. The first call wins; later calls are ignored.
  virtual void Respond(HttpResponse response) = 0;
  // True once the client has gone away (or the server stopped).
  virtual bool closed() const = 0;
};

using HttpHandler = std::function<void(const HttpRequest& request,
                                       std::shared_ptr<HttpResponder> responder)>;

struct HttpServerOptions {
  size_t max_body_bytes = 1 << 20;
  unsigned max_connections = 20000;
  std::chrono::seconds idle_timeout{120};
};

class HttpServer {
 public:
  // Serves `listen_fd` (already bound and listening). EINVAL if it is not a
  // listening stream socket; the errno of the failure otherwise.
  static Result<std::unique_ptr<HttpServer>> Start(UniqueFd listen_fd,
                                                   HttpHandler handler,
                                                   HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void Stop();  // idempotent
  size_t open_connections() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Creates a listening unix stream socket at `path` with mode 0600 (umask
// around bind, never a chmod through the path), replacing a stale socket
// file; EADDRINUSE if a live server answers there, EEXIST if the path is not
// a socket.
Result<UniqueFd> ListenUnix(const std::string& path);
// A listening TCP socket on `at` (SO_REUSEADDR); port 0 = any.
Result<UniqueFd> ListenTcp(const Endpoint& at);
// The port a listening TCP socket is bound to.
Result<uint16_t> BoundPort(int fd);

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the soft
// limit now in force. Process-wide; Start calls it.
Result<uint64_t> RaiseFileLimit();

}  // namespace zl::overlay
