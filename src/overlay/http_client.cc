#include "overlay/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>

namespace zl::overlay {
namespace {

// Bigger answers are refused (EMSGSIZE): a bound on what a broken or hostile
// server can make us hold.
constexpr size_t kMaxResponseBytes = 64u << 20;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string body;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body.size() + n > kMaxResponseBytes) {
    sink->overflow = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

// The errno for a transport failure. `os_errno` is what the failing system
// call reported, when curl knows it (ENOENT for a missing socket file,
// EHOSTUNREACH, EACCES, ...).
int ErrnoFor(CURLcode code, long os_errno) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
      return os_errno != 0 ? static_cast<int>(os_errno) : ECONNREFUSED;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      return os_errno != 0 ? static_cast<int>(os_errno) : ECONNRESET;
    case CURLE_GOT_NOTHING:
      return ECONNRESET;
    case CURLE_COULDNT_RESOLVE_HOST:
      return EHOSTUNREACH;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return EPROTO;
    case CURLE_URL_MALFORMAT:
      return EINVAL;
    case CURLE_OUT_OF_MEMORY:
      return ENOMEM;
    default:
      return EIO;
  }
}

}  // namespace

std::string HttpTarget::Describe() const {
  return unix_path.empty() ? tcp.ToString() : "unix:" + unix_path;
}

struct HttpClient::Impl {
  HttpTarget target;
  std::string base_url;
  CURL* curl = nullptr;
  curl_slist* body_headers = nullptr;
  std::function<bool()> cancelled;
  std::chrono::milliseconds connect_timeout{0};

  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
    curl_slist_free_all(body_headers);
  }
};

HttpClient::HttpClient(HttpTarget target) : impl_(std::make_unique<Impl>()) {
  InitCurlOnce();
  impl_->base_url = target.unix_path.empty()
                        ? "http://" + target.tcp.ToString()
                        : std::string("http://localhost");
  impl_->target = std::move(target);
  impl_->curl = curl_easy_init();
  // No "Expect: 100-continue": curl would wait for it before a large body.
  impl_->body_headers =
      curl_slist_append(nullptr, "Content-Type: application/json");
  if (impl_->body_headers != nullptr) {
    curl_slist* more = curl_slist_append(impl_->body_headers, "Expect:");
    if (more != nullptr) impl_->body_headers = more;
  }
}

HttpClient::~HttpClient() = default;

void HttpClient::SetConnectTimeout(std::chrono::milliseconds timeout) {
  impl_->connect_timeout = timeout;
}

void HttpClient::SetCancel(std::function<bool()> cancelled) {
  impl_->cancelled = std::move(cancelled);
}

namespace {
// libcurl calls this about once a second while a transfer waits, and more
// often while data flows; a non-zero return aborts the transfer.
int CheckCancel(void* data, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancelled = static_cast<const std::function<bool()>*>(data);
  return (*cancelled)() ? 1 : 0;
}
}  // namespace

Result<HttpResponse> HttpClient::Request(std::string_view method,
                                         std::string_view path_and_query,
                                         std::string_view body,
                                         std::chrono::milliseconds timeout) {
  Impl& impl = *impl_;
  // What errors name: the target and the path, never the query (it may
  // carry something not meant for logs).
  const std::string_view path =
      path_and_query.substr(0, path_and_query.find('?'));
  auto fail = [&](int code, std::string_view why) {
    return MakeError(code, fmt::format("{} {}{}: {}", method,
                                       impl.target.Describe(), path, why));
  };
  if (impl.curl == nullptr) return fail(ENOMEM, "curl_easy_init failed");
  if (path_and_query.empty() || path_and_query.front() != '/') {
    return fail(EINVAL, "the path must start with '/'");
  }
  if (timeout.count() <= 0) return fail(EINVAL, "the timeout must be positive");

  CURL* curl = impl.curl;
  // Reset keeps the live connection, so the next call reuses it.
  curl_easy_reset(curl);
  const std::string url = impl.base_url + std::string(path_and_query);
  const std::string verb(method);
  Sink sink;
  char detail[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (!impl.target.unix_path.empty()) {
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH,
                     impl.target.unix_path.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // never an environment proxy
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // A long poll to a peer that restarted learns it from the RST to a
  // keepalive probe, instead of waiting out its timeout.
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 3L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 2L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  const auto connect_timeout = impl.connect_timeout.count() > 0
                                   ? std::min(impl.connect_timeout, timeout)
                                   : timeout;
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
  if (impl.cancelled) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &CheckCancel);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &impl.cancelled);
  }
  if (method == "GET" && body.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
    if (!body.empty() || method == "POST" || method == "PUT" ||
        method == "PATCH") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, impl.body_headers);
    }
  }

  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_ABORTED_BY_CALLBACK) return fail(ECANCELED, "cancelled");
  if (code != CURLE_OK) {
    if (sink.overflow) {
      return fail(EMSGSIZE, fmt::format("the answer is over {} bytes",
                                        kMaxResponseBytes));
    }
    long os_errno = 0;
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    const int err = ErrnoFor(code, os_errno);
    return fail(err, fmt::format("{} ({})", std::strerror(err),
                                 detail[0] != '\0' ? detail
                                                   : curl_easy_strerror(code)));
  }
  HttpResponse response;
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  char* content_type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
  response.content_type = content_type != nullptr ? content_type : "";
  response.body = std::move(sink.body);
  return response;
}

}  // namespace zl::overlay
