#pragma once
// HttpClient: requests to the local API (unix socket) or to the control
// node's peer API (TCP through the tunnel), on libcurl.
//
// Each call is synchronous and bounded by its timeout; a transport failure
// is an Error (ECONNREFUSED, ENOENT for a missing socket file, ETIMEDOUT,
// EHOSTUNREACH...) whose message names the target, never a Response.
// An HTTP error status is a Response (the caller decides).
//
// Thread safety: one HttpClient per thread (it keeps a curl handle and its
// connection alive between calls).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/ip.h"
#include "base/result.h"
#include "overlay/http_server.h"

namespace zl::overlay {

struct HttpTarget {
  std::string unix_path;  // set: the unix socket; else `tcp`
  Endpoint tcp;
  std::string Describe() const;  // "unix:/path" or "10.200.0.1:51880"
};

class HttpClient {
 public:
  explicit HttpClient(HttpTarget target);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `path_and_query` like "/v1/watch?since=12&timeout=30". JSON body for
  // POST/PUT (may be empty).
  Result<HttpResponse> Request(std::string_view method,
                               std::string_view path_and_query,
                               std::string_view body,
                               std::chrono::milliseconds timeout);
  // A call in progress (or a later one) ends with ECANCELED within about a
  // second once `cancelled` returns true (it is polled on the calling
  // thread). For long polls that must end when their owner stops.
  void SetCancel(std::function<bool()> cancelled);
  // Caps the time to connect (default: the call's timeout), so a long poll
  // to a peer that is down is retried soon after it comes back.
  void SetConnectTimeout(std::chrono::milliseconds timeout);

  Result<HttpResponse> Get(std::string_view path_and_query,
                           std::chrono::milliseconds timeout) {
    return Request("GET", path_and_query, "", timeout);
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zl::overlay
