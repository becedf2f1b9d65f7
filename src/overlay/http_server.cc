#include "overlay/http_server.h"

// How the server runs libmicrohttpd (MHD):
//
// MHD is driven from our own net::EventLoop thread ("the server thread"), in
// MHD's epoll mode without an MHD thread: the loop watches MHD's epoll fd,
// calls MHD_run when it is readable and arms a timer from MHD_get_timeout.
// Every MHD call happens on that thread (and, after the thread has ended, in
// Stop on the owning thread), so no MHD object is ever touched from two
// threads.
//
// Why not MHD's own epoll thread: MHD does not watch a suspended connection,
// so a long-poll client that goes away would go unnoticed until its answer.
// Our loop watches each suspended socket for the peer's close (EPOLLRDHUP),
// marks the exchange closed and resumes the connection so MHD reaps it.
//
// An answer from another thread is a task posted to the loop (through a Gate
// that outlives the loop, so a late Respond finds no loop and is dropped);
// the task resumes the suspended connection, and MHD then calls the access
// handler again, which queues the stored answer.

#include <fmt/format.h>
#include <microhttpd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/thread_name.h"
#include "base/mutex.h"
#include "net/event_loop.h"
#include "net/sockaddr.h"

namespace zl::overlay {
namespace {

// How long Stop lets the 503 answers to suspended requests go out.
constexpr auto kStopDrainTime = std::chrono::seconds(1);
// The longest the loop sleeps on MHD's timeout (MHD asks for none at all
// when no connection can time out).
constexpr auto kMaxMhdSleep = std::chrono::hours(1);

HttpResponse JsonError(int status, std::string_view message) {
  return HttpResponse{status, "application/json",
                      fmt::format("{{\"error\":\"{}\"}}\n", message)};
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding; a malformed escape stays as it is. In a query, '+' is a
// space (application/x-www-form-urlencoded); in a path it is itself.
std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

class Exchange;

// The way from any thread to the server thread. It outlives the loop: once
// Close()d, posts are dropped.
class Gate {
 public:
  explicit Gate(net::EventLoop* loop) : loop_(loop) {}
  void Post(net::EventLoop::Task task) {
    MutexLock lock(mu_);
    if (loop_ != nullptr) loop_->Post(std::move(task));
  }
  void Close() {
    MutexLock lock(mu_);
    loop_ = nullptr;
  }

 private:
  Mutex mu_;
  net::EventLoop* loop_ GUARDED_BY(mu_);
};

// One request handed to the handler: the answer slot that the responder
// (any thread) fills and the server thread sends.
class Exchange {
 public:
  // True if this call set the answer (the first one wins).
  bool SetAnswer(HttpResponse response) {
    MutexLock lock(mu_);
    if (answered_) return false;
    answered_ = true;
    answer_ = std::move(response);
    return true;
  }
  bool answered() {
    MutexLock lock(mu_);
    return answered_;
  }
  // The answer, once; nullopt if none was given or it was taken.
  std::optional<HttpResponse> TakeAnswer() {
    MutexLock lock(mu_);
    return std::exchange(answer_, std::nullopt);
  }
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  void MarkClosed() { closed_.store(true, std::memory_order_release); }

  // Server thread only.
  MHD_Connection* connection = nullptr;  // null once MHD is done with it
  int fd = -1;                           // watched while suspended
  bool suspended = false;
  bool flushing_at_stop = false;  // resumed by Stop, answer not yet sent

 private:
  Mutex mu_;
  bool answered_ GUARDED_BY(mu_) = false;
  std::optional<HttpResponse> answer_ GUARDED_BY(mu_);
  std::atomic<bool> closed_{false};
};

// What MHD keeps per request (its req_cls), on the server thread.
struct PendingRequest {
  std::string body;
  bool too_large = false;
  std::shared_ptr<Exchange> exchange;  // once handed to the handler
};

Result<void> CheckListeningStream(int fd) {
  int type = 0;
  int accepting = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return ErrnoError(EINVAL, "HTTP server: not a socket");
  }
  len = sizeof(accepting);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 ||
      type != SOCK_STREAM || accepting == 0) {
    return MakeError(EINVAL,
                     "HTTP server: the socket is not a listening stream socket");
  }
  return Ok();
}

}  // namespace

struct HttpServer::Impl {
  class Responder;

  HttpHandler handler;
  HttpServerOptions options;
  std::unique_ptr<net::EventLoop> loop;
  std::shared_ptr<Gate> gate;
  MHD_Daemon* daemon = nullptr;
  std::thread thread;
  std::atomic<size_t> connections{0};
  bool stopped = false;  // owning thread

  // Server thread only (the owning thread once the thread has ended).
  std::unordered_map<Exchange*, std::shared_ptr<Exchange>> suspended;
  size_t stop_pending = 0;  // exchanges flushing_at_stop
  bool stopping = false;
  std::optional<net::TimerId> mhd_timer;
  bool mhd_run_posted = false;
  bool closed_during_run = false;

  // The server thread's work.
  void RunMhd();
  void PostMhdRun();  // RunMhd soon, after the tasks already posted
  void ScheduleMhd();
  MHD_Result OnAccess(MHD_Connection* connection, const char* url,
                      const char* method, const char* upload_data,
                      size_t* upload_data_size, void** req_cls);
  MHD_Result Dispatch(MHD_Connection* connection, const char* url,
                      const char* method, PendingRequest& pending);
  void Suspend(const std::shared_ptr<Exchange>& exchange);
  void Resume(Exchange& exchange);
  void OnAnswered(Exchange& exchange);
  void OnPeerClosed(Exchange& exchange);
  void OnCompleted(void** req_cls);
  void BeginStop();
  void FinishStopIfDrained();

  // MHD's callbacks; `cls` is the Impl.
  static MHD_Result AccessThunk(void* cls, MHD_Connection* connection,
                                const char* url, const char* method,
                                const char* version, const char* upload_data,
                                size_t* upload_data_size, void** req_cls);
  static void CompletedThunk(void* cls, MHD_Connection* connection,
                             void** req_cls, MHD_RequestTerminationCode toe);
  static void ConnectionThunk(void* cls, MHD_Connection* connection,
                              void** socket_context,
                              MHD_ConnectionNotificationCode toe);
  static void LogThunk(void* cls, const char* format, va_list args);
  static size_t KeepEscapesThunk(void* cls, MHD_Connection* connection,
                                 char* text);
};

// Handed to the handler. Dropped unanswered, it answers 500.
class HttpServer::Impl::Responder final : public HttpResponder {
 public:
  Responder(Impl* impl, std::shared_ptr<Gate> gate,
            std::shared_ptr<Exchange> exchange)
      : impl_(impl), gate_(std::move(gate)), exchange_(std::move(exchange)) {}
  ~Responder() override {
    if (!exchange_->answered()) {
      Respond(JsonError(500, "the server did not answer"));
    }
  }

  void Respond(HttpResponse response) override {
    if (exchange_->closed() || !exchange_->SetAnswer(std::move(response))) {
      return;
    }
    // `impl_` is alive while the loop runs posted tasks: Stop closes the
    // gate and ends the loop before the Impl goes.
    gate_->Post([impl = impl_, exchange = exchange_] {
      impl->OnAnswered(*exchange);
    });
  }
  bool closed() const override { return exchange_->closed(); }

 private:
  Impl* impl_;
  std::shared_ptr<Gate> gate_;
  std::shared_ptr<Exchange> exchange_;
};

namespace {

MHD_Result QueueAnswer(MHD_Connection* connection, const HttpResponse& answer) {
  MHD_Response* response = MHD_create_response_from_buffer(
      answer.body.size(), const_cast<char*>(answer.body.data()),
      MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  if (!answer.content_type.empty() &&
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                              answer.content_type.c_str()) != MHD_YES) {
    LogError("HTTP server: invalid Content-Type in an answer; sent without");
  }
  const unsigned status =
      answer.status >= 100 && answer.status <= 599 ? answer.status : 500;
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

std::optional<Endpoint> RemoteOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return std::nullopt;
  // MHD keeps exactly the length accept() gave, so copy by family.
  socklen_t len = 0;
  switch (info->client_addr->sa_family) {
    case AF_INET:
      len = sizeof(sockaddr_in);
      break;
    case AF_INET6:
      len = sizeof(sockaddr_in6);
      break;
    default:
      return std::nullopt;  // AF_UNIX
  }
  sockaddr_storage storage{};
  std::memcpy(&storage, info->client_addr, len);
  return net::FromSockaddr(storage, len);
}

MHD_Result AddQueryArgument(void* cls, MHD_ValueKind, const char* key,
                            size_t key_size, const char* value,
                            size_t value_size) {
  auto* query = static_cast<std::map<std::string, std::string>*>(cls);
  query->emplace(PercentDecode({key, key_size}, true),
                 value == nullptr ? std::string()
                                  : PercentDecode({value, value_size}, true));
  return MHD_YES;
}

std::optional<uint64_t> DeclaredLength(MHD_Connection* connection) {
  const char* text = MHD_lookup_connection_value(
      connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (text == nullptr) return std::nullopt;
  uint64_t value = 0;
  const char* end = text + std::strlen(text);
  if (std::from_chars(text, end, value).ec != std::errc()) return std::nullopt;
  return value;
}

}  // namespace

MHD_Result HttpServer::Impl::AccessThunk(void* cls, MHD_Connection* connection,
                                         const char* url, const char* method,
                                         const char* /*version*/,
                                         const char* upload_data,
                                         size_t* upload_data_size,
                                         void** req_cls) {
  return static_cast<Impl*>(cls)->OnAccess(connection, url, method, upload_data,
                                           upload_data_size, req_cls);
}

void HttpServer::Impl::CompletedThunk(void* cls, MHD_Connection*,
                                      void** req_cls,
                                      MHD_RequestTerminationCode) {
  static_cast<Impl*>(cls)->OnCompleted(req_cls);
}

void HttpServer::Impl::ConnectionThunk(void* cls, MHD_Connection*, void**,
                                       MHD_ConnectionNotificationCode toe) {
  auto* impl = static_cast<Impl*>(cls);
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    impl->connections.fetch_add(1, std::memory_order_relaxed);
  } else {
    impl->connections.fetch_sub(1, std::memory_order_relaxed);
    impl->closed_during_run = true;
  }
}

void HttpServer::Impl::LogThunk(void*, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof(line), format, args);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  LogVerbose(fmt::format("HTTP server (libmicrohttpd): {}", text));
}

// MHD would decode %XX in place; we decode ourselves, after MHD has split
// the query on '&' and '=', so that "+" in a query can mean a space.
size_t HttpServer::Impl::KeepEscapesThunk(void*, MHD_Connection*, char* text) {
  return std::strlen(text);
}

MHD_Result HttpServer::Impl::OnAccess(MHD_Connection* connection,
                                      const char* url, const char* method,
                                      const char* upload_data,
                                      size_t* upload_data_size,
                                      void** req_cls) {
  auto* pending = static_cast<PendingRequest*>(*req_cls);
  if (pending == nullptr) {  // the headers are in
    pending = new PendingRequest;
    *req_cls = pending;
    if (auto declared = DeclaredLength(connection);
        declared && *declared > options.max_body_bytes) {
      // Answered before the body: MHD then reads no more and closes.
      pending->too_large = true;
      return QueueAnswer(connection,
                         JsonError(413, "request body too large"));
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0) {  // more of the body
    if (!pending->too_large) {
      if (pending->body.size() + *upload_data_size > options.max_body_bytes) {
        // A chunked body over the limit: read it to the end, keep none.
        pending->too_large = true;
        std::string().swap(pending->body);
      } else {
        pending->body.append(upload_data, *upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  // The whole request is in, or the connection was resumed.
  if (pending->too_large) {
    return QueueAnswer(connection, JsonError(413, "request body too large"));
  }
  if (pending->exchange == nullptr) {
    return Dispatch(connection, url, method, *pending);
  }
  if (auto answer = pending->exchange->TakeAnswer()) {
    return QueueAnswer(connection, *answer);
  }
  return MHD_NO;  // resumed because the client went away: close
}

MHD_Result HttpServer::Impl::Dispatch(MHD_Connection* connection,
                                      const char* url, const char* method,
                                      PendingRequest& pending) {
  if (stopping) {
    return QueueAnswer(connection, JsonError(503, "the server is stopping"));
  }
  HttpRequest request;
  request.method = method;
  request.path = PercentDecode(url, false);
  MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND,
                              &AddQueryArgument, &request.query);
  request.body = std::move(pending.body);
  request.remote = RemoteOf(connection);

  auto exchange = std::make_shared<Exchange>();
  exchange->connection = connection;
  pending.exchange = exchange;
  {
    auto responder = std::make_shared<Responder>(this, gate, exchange);
    try {
      handler(request, responder);
    } catch (const std::exception& e) {
      LogError(fmt::format("HTTP server: the handler of {} {} threw: {}",
                           request.method, request.path, e.what()));
      responder->Respond(JsonError(500, "internal error"));
    }
  }  // Unless the handler kept the responder, it has answered (500) by now.
  if (auto answer = exchange->TakeAnswer()) {
    return QueueAnswer(connection, *answer);
  }
  Suspend(exchange);
  return MHD_YES;
}

void HttpServer::Impl::Suspend(const std::shared_ptr<Exchange>& exchange) {
  MHD_suspend_connection(exchange->connection);
  exchange->suspended = true;
  suspended.emplace(exchange.get(), exchange);
  const MHD_ConnectionInfo* info = MHD_get_connection_info(
      exchange->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return;
  // MHD does not look at a suspended socket; we watch for the peer's close.
  Exchange* raw = exchange.get();
  auto watched = loop->Watch(info->connect_fd, EPOLLRDHUP,
                             [this, raw](uint32_t) { OnPeerClosed(*raw); });
  if (watched.ok()) {
    exchange->fd = info->connect_fd;
  } else {
    LogError(fmt::format(
        "HTTP server: cannot watch a long-poll for its client's close: {}",
        watched.error().message()));
  }
}

void HttpServer::Impl::Resume(Exchange& exchange) {
  if (exchange.fd >= 0) loop->Unwatch(std::exchange(exchange.fd, -1));
  exchange.suspended = false;
  MHD_Connection* connection = exchange.connection;
  suspended.erase(&exchange);  // its PendingRequest still holds it
  // MHD picks it up on its next run and calls the access handler, which
  // sends the answer or closes. (Without an MHD thread, MHD has no ITC to
  // wake us: we run it ourselves, once for a whole batch of resumes.)
  MHD_resume_connection(connection);
  PostMhdRun();
}

void HttpServer::Impl::OnAnswered(Exchange& exchange) {
  if (exchange.suspended) Resume(exchange);
  // Not suspended: answered inside the handler call (sent from there), or
  // the connection is gone.
}

void HttpServer::Impl::OnPeerClosed(Exchange& exchange) {
  if (!exchange.suspended) return;
  exchange.MarkClosed();
  Resume(exchange);
}

void HttpServer::Impl::OnCompleted(void** req_cls) {
  auto* pending = static_cast<PendingRequest*>(*req_cls);
  *req_cls = nullptr;
  if (pending == nullptr) return;
  if (const auto& exchange = pending->exchange) {
    exchange->MarkClosed();
    exchange->connection = nullptr;
    if (exchange->flushing_at_stop) {
      exchange->flushing_at_stop = false;
      --stop_pending;
      FinishStopIfDrained();
    }
  }
  delete pending;
}

void HttpServer::Impl::RunMhd() {
  MHD_run(daemon);
  // At its connection limit MHD takes the listening socket out of its epoll
  // set; it puts it back at the start of the run after a close, and nothing
  // else would wake us for that run.
  if (std::exchange(closed_during_run, false)) PostMhdRun();
  ScheduleMhd();
}

void HttpServer::Impl::PostMhdRun() {
  if (mhd_run_posted) return;
  mhd_run_posted = true;
  loop->Post([this] {
    mhd_run_posted = false;
    RunMhd();
  });
}

void HttpServer::Impl::ScheduleMhd() {
  MHD_UNSIGNED_LONG_LONG timeout_ms = 0;
  if (MHD_get_timeout(daemon, &timeout_ms) != MHD_YES) {
    if (mhd_timer) loop->CancelTimer(*std::exchange(mhd_timer, std::nullopt));
    return;
  }
  if (timeout_ms == 0) {  // work is waiting already
    PostMhdRun();
    return;
  }
  const Duration sleep = std::min<Duration>(
      std::chrono::milliseconds(timeout_ms), kMaxMhdSleep);
  if (mhd_timer && loop->ResetTimer(*mhd_timer, sleep, Duration::zero())) {
    return;
  }
  auto timer = loop->AddTimer(sleep, Duration::zero(), [this] {
    mhd_timer.reset();
    RunMhd();
  });
  if (timer.ok()) {
    mhd_timer = *timer;
  } else {
    LogError("HTTP server: " + timer.error().message());
  }
}

void HttpServer::Impl::BeginStop() {
  stopping = true;
  std::vector<std::shared_ptr<Exchange>> waiting;
  waiting.reserve(suspended.size());
  for (const auto& [raw, exchange] : suspended) waiting.push_back(exchange);
  for (const auto& exchange : waiting) {
    exchange->SetAnswer(JsonError(503, "the server is stopping"));
    exchange->flushing_at_stop = true;
    ++stop_pending;
    Resume(*exchange);
  }
  if (stop_pending > 0) {
    auto timer = loop->AddTimer(kStopDrainTime, Duration::zero(),
                                [this] { loop->Stop(); });
    if (timer.ok()) return;
  }
  loop->Stop();
}

void HttpServer::Impl::FinishStopIfDrained() {
  if (stopping && stop_pending == 0 && loop != nullptr) loop->Stop();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(UniqueFd listen_fd,
                                                      HttpHandler handler,
                                                      HttpServerOptions options) {
  ZL_RETURN_IF_ERROR(CheckListeningStream(listen_fd.get()));
  if (auto limit = RaiseFileLimit(); !limit.ok()) {
    LogError("HTTP server: " + limit.error().message());
  }
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  impl->options = options;
  auto loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.error().Wrap("HTTP server");
  impl->loop = std::move(loop).value();
  impl->gate = std::make_shared<Gate>(impl->loop.get());

  int domain = AF_UNSPEC;
  socklen_t len = sizeof(domain);
  getsockopt(listen_fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len);
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (domain == AF_INET6) flags |= MHD_USE_IPv6;
  struct stat before {};
  fstat(listen_fd.get(), &before);
  Impl* raw = impl.get();
  // MHD closes the listening socket when it stops, so it gets it for good
  // once it started.
  impl->daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Impl::AccessThunk, raw,
      // The logger first, so MHD logs nothing of its own on the way.
      MHD_OPTION_EXTERNAL_LOGGER, &Impl::LogThunk, raw,
      MHD_OPTION_LISTEN_SOCKET, listen_fd.get(),
      MHD_OPTION_CONNECTION_LIMIT, options.max_connections,
      MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned>(options.idle_timeout.count()),
      MHD_OPTION_NOTIFY_COMPLETED, &Impl::CompletedThunk, raw,
      MHD_OPTION_NOTIFY_CONNECTION, &Impl::ConnectionThunk, raw,
      MHD_OPTION_UNESCAPE_CALLBACK, &Impl::KeepEscapesThunk, raw,
      MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    // On some failures MHD has closed the socket already: close it only if
    // the descriptor still names the same socket.
    struct stat now {};
    if (fstat(listen_fd.get(), &now) != 0 || now.st_dev != before.st_dev ||
        now.st_ino != before.st_ino) {
      listen_fd.Release();
    }
    return MakeError(EIO, "HTTP server: libmicrohttpd did not start");
  }
  listen_fd.Release();

  const MHD_DaemonInfo* info =
      MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_EPOLL_FD);
  Result<void> watched =
      info == nullptr
          ? Result<void>(MakeError(EIO, "libmicrohttpd has no epoll fd"))
          : impl->loop->Watch(info->epoll_fd, net::kReadable,
                              [raw](uint32_t) { raw->RunMhd(); });
  if (!watched.ok()) {
    MHD_stop_daemon(impl->daemon);
    return watched.error().Wrap("HTTP server");
  }
  impl->thread = std::thread([raw] {
    SetThreadName("zl-http");
    if (auto ran = raw->loop->Run(); !ran.ok()) {
      LogError("HTTP server: " + ran.error().message());
    }
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  impl.loop->Post([&impl] { impl.BeginStop(); });
  impl.thread.join();
  // Shutdown order: no more posts, then no loop (it watches MHD's fds),
  // then MHD (it closes every connection and the listening socket; its
  // completion callbacks run here, on this thread).
  impl.gate->Close();
  impl.loop.reset();
  // BeginStop resumed every suspended connection, unless the loop died
  // first; MHD must not stop with one still suspended.
  for (const auto& [raw, exchange] : impl.suspended) {
    exchange->MarkClosed();
    MHD_resume_connection(exchange->connection);
  }
  MHD_stop_daemon(impl.daemon);
  impl.daemon = nullptr;
  impl.suspended.clear();
}

size_t HttpServer::open_connections() const {
  return impl_->connections.load(std::memory_order_relaxed);
}

}  // namespace zl::overlay
