#pragma once
// Result<T> and Error: how every control path in the project reports failure.
//
// An Error carries an errno value (so the UAPI can answer `errno=N` the way
// wireguard-go does) and a human-readable message. Nothing in the project
// throws; functions that can fail return Result<T>. Per-packet outcomes do not
// use Result: they are enums that feed counters (see wg/engine.h).
//
// Thread safety: values; no shared state.

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/errno_compat.h"

namespace zl {

class Error {
 public:
  Error(int code, std::string message) : code_(code), message_(std::move(message)) {}

  // The errno value (EINVAL, EPROTO, ...). Always non-zero.
  int code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message".
  Error Wrap(std::string_view context) const {
    return Error(code_, std::string(context) + ": " + message_);
  }

 private:
  int code_;
  std::string message_;
};

inline Error MakeError(int code, std::string message) {
  return Error(code == 0 ? EINVAL : code, std::move(message));
}

// Error from the current errno, with `what` naming the call that failed.
Error ErrnoError(std::string_view what);
Error ErrnoError(int err, std::string_view what);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !ok()
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // REQUIRES: !ok()
  const Error& error() const { return error_; }

 private:
  Error error_{0, {}};
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

}  // namespace zl

// Returns the error of `expr` (a Result<...>) from the enclosing function.
#define ZL_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    if (auto zl_r_ = (expr); !zl_r_.ok()) {         \
      return zl_r_.error();                         \
    }                                               \
  } while (0)
