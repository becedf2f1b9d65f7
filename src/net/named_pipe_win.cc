// Named pipes with overlapped I/O: every wait is on the operation's event
// together with the stop events and a deadline, and an operation given up on
// is cancelled (CancelIoEx) and waited for before its OVERLAPPED and buffer
// go away, so nothing blocks for longer than its caller allows.
#include "net/named_pipe.h"

// winsock2.h must come before windows.h.
// clang-format off
#include <winsock2.h>  // see wintun_api_win.h
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
// clang-format on

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "net/unique_handle_win.h"
#include "net/win32_error_win.h"
#include "net/win_text_win.h"

namespace zl::net {
namespace {

// Each direction's buffer: a get answer of a few hundred peers fits whole.
constexpr DWORD kPipeBufferBytes = 64 * 1024;
// Instances kept listening: after a client takes one, another is still free
// while the listener creates the next (wg.exe never waits for a busy pipe).
constexpr size_t kListeningInstances = 2;

struct LocalFreeDeleter {
  void operator()(void* p) const { LocalFree(p); }
};
using LocalPtr = std::unique_ptr<void, LocalFreeDeleter>;

// Milliseconds from now until `deadline`, 0 once past; never INFINITE.
DWORD MillisecondsUntil(MonoTime deadline) {
  const Duration left = deadline - BootClock::now();
  if (left <= Duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return DWORD(std::min<int64_t>(ms, INFINITE - 1));
}

UniqueHandle ManualResetEvent() {
  return UniqueHandle(CreateEventW(nullptr, TRUE, FALSE, nullptr));
}

bool IsSignaled(HANDLE event) {
  return event != nullptr && WaitForSingleObject(event, 0) == WAIT_OBJECT_0;
}

Error Canceled() { return MakeError(ECANCELED, "named pipe: stopped"); }

Error PipeInUse(const std::string& name) {
  return MakeError(EADDRINUSE,
                   "named pipe " + name +
                       " exists already: another server (another zlayer-wg "
                       "for this interface?) is serving it");
}

// Runs `create` with SeRestorePrivilege enabled on this thread only (an
// impersonation token of our own, dropped afterwards). Creating an object
// whose owner is another principal (SYSTEM) needs it unless we are that
// principal: an elevated administrator holds the privilege, disabled.
template <typename Create>
Result<UniqueHandle> WithRestorePrivilege(Create create) {
  if (!ImpersonateSelf(SecurityImpersonation)) {
    return LastWin32Error("ImpersonateSelf");
  }
  struct Revert {
    ~Revert() { RevertToSelf(); }
  } revert;
  HANDLE raw_token = nullptr;
  if (!OpenThreadToken(GetCurrentThread(), TOKEN_ADJUST_PRIVILEGES, TRUE,
                       &raw_token)) {
    return LastWin32Error("OpenThreadToken");
  }
  UniqueHandle token(raw_token);
  TOKEN_PRIVILEGES privileges{};
  privileges.PrivilegeCount = 1;
  privileges.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
  if (!LookupPrivilegeValueW(nullptr, L"SeRestorePrivilege",
                             &privileges.Privileges[0].Luid)) {
    return LastWin32Error("LookupPrivilegeValueW(SeRestorePrivilege)");
  }
  if (!AdjustTokenPrivileges(token.get(), FALSE, &privileges, 0, nullptr,
                             nullptr) ||
      GetLastError() == ERROR_NOT_ALL_ASSIGNED) {
    return LastWin32Error("enable SeRestorePrivilege");
  }
  return create();
}

}  // namespace

// --- PipeConnection ---------------------------------------------------------

struct PipeConnection::Impl {
  UniqueHandle pipe;
  UniqueHandle io_event;  // the OVERLAPPED's; one operation at a time
  UniqueHandle stop;      // Stop()
  // The listener's Stop(), shared with it; null for a client's connection.
  std::shared_ptr<UniqueHandle> listener_stop;

  bool Stopped() const {
    return IsSignaled(stop.get()) ||
           (listener_stop && IsSignaled(listener_stop->get()));
  }

  // One overlapped ReadFile or WriteFile of at most `size` bytes: the count
  // it moved. An operation that completes while being cancelled still
  // counts (no byte read is lost).
  Result<DWORD> Transfer(bool write, void* data, DWORD size,
                         MonoTime deadline) {
    if (Stopped()) return Canceled();
    OVERLAPPED ov{};
    ov.hEvent = io_event.get();
    const BOOL done = write ? WriteFile(pipe.get(), data, size, nullptr, &ov)
                            : ReadFile(pipe.get(), data, size, nullptr, &ov);
    const char* what = write ? "WriteFile(named pipe)" : "ReadFile(named pipe)";
    if (!done && GetLastError() != ERROR_IO_PENDING) {
      return LastWin32Error(what);  // EPIPE: the other end is gone
    }
    int given_up = 0;  // why the operation was cancelled, if it was
    if (!done) {
      std::array<HANDLE, 3> waits{io_event.get(), stop.get()};
      DWORD count = 2;
      if (listener_stop) waits[count++] = listener_stop->get();
      const DWORD r = WaitForMultipleObjects(count, waits.data(), FALSE,
                                             MillisecondsUntil(deadline));
      if (r != WAIT_OBJECT_0) {
        given_up = r == WAIT_TIMEOUT ? ETIMEDOUT : ECANCELED;
        CancelIoEx(pipe.get(), &ov);
      }
    }
    DWORD moved = 0;
    if (!GetOverlappedResult(pipe.get(), &ov, &moved, TRUE)) {
      const DWORD err = GetLastError();
      if (err == ERROR_OPERATION_ABORTED && given_up == ETIMEDOUT) {
        return MakeError(ETIMEDOUT, std::string("named pipe: ") +
                                        (write ? "write" : "read") +
                                        " timed out");
      }
      if (err == ERROR_OPERATION_ABORTED && given_up != 0) return Canceled();
      return Win32Error(err, what);
    }
    return moved;
  }
};

PipeConnection::PipeConnection(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

// Closing without DisconnectNamedPipe: the client can still read what was
// written before it sees the end of the pipe.
PipeConnection::~PipeConnection() = default;

Result<size_t> PipeConnection::Read(MutableByteSpan buffer, MonoTime deadline) {
  if (buffer.empty()) return MakeError(EINVAL, "named pipe: empty read buffer");
  const DWORD size = DWORD(std::min<size_t>(buffer.size(), kPipeBufferBytes));
  // A zero-byte write by the client completes a read with 0 bytes: that is
  // not the end of the stream, so read again (until the deadline).
  for (;;) {
    auto n = impl_->Transfer(false, buffer.data(), size, deadline);
    if (!n.ok()) {
      if (n.error().code() == EPIPE) return size_t{0};  // the client closed
      return n.error();
    }
    if (*n > 0) return size_t(*n);
    if (BootClock::now() >= deadline) {
      return MakeError(ETIMEDOUT, "named pipe: read timed out");
    }
  }
}

Result<void> PipeConnection::Write(ByteSpan bytes, MonoTime deadline) {
  size_t off = 0;
  while (off < bytes.size()) {
    const DWORD size =
        DWORD(std::min<size_t>(bytes.size() - off, kPipeBufferBytes));
    auto n = impl_->Transfer(true, const_cast<uint8_t*>(bytes.data() + off),
                             size, deadline);
    if (!n.ok()) return n.error();
    off += *n;
    if (*n == 0 && BootClock::now() >= deadline) {
      return MakeError(ETIMEDOUT, "named pipe: write timed out");
    }
  }
  return Ok();
}

void PipeConnection::Stop() { SetEvent(impl_->stop.get()); }

Result<std::string> PipeConnection::SecurityDescriptorSddl() const {
  const SECURITY_INFORMATION what =
      OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION |
      DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD err = GetSecurityInfo(impl_->pipe.get(), SE_KERNEL_OBJECT, what,
                                    nullptr, nullptr, nullptr, nullptr, &sd);
  if (err != ERROR_SUCCESS) return Win32Error(err, "GetSecurityInfo(pipe)");
  LocalPtr owned_sd(sd);
  wchar_t* text = nullptr;
  if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(
          sd, SDDL_REVISION_1, what, &text, nullptr)) {
    return LastWin32Error(
        "ConvertSecurityDescriptorToStringSecurityDescriptorW");
  }
  LocalPtr owned_text(text);
  return Utf8FromWide(text);
}

// --- NamedPipeListener ------------------------------------------------------

namespace {

// One listening instance of the pipe.
struct Instance {
  UniqueHandle pipe;
  UniqueHandle event;  // ov's
  OVERLAPPED ov{};
  bool connecting = false;  // ConnectNamedPipe is outstanding
  bool connected = false;   // a client is in: hand it out

  // Waits for the outstanding ConnectNamedPipe to end (cancelled), so that
  // `ov` may go.
  void CancelConnect() {
    if (!connecting) return;
    CancelIoEx(pipe.get(), &ov);
    DWORD ignored = 0;
    GetOverlappedResult(pipe.get(), &ov, &ignored, TRUE);
    connecting = false;
  }
  void Close() {
    CancelConnect();
    pipe.Reset();
    connected = false;
  }
};

}  // namespace

struct NamedPipeListener::Impl {
  std::wstring path;
  LocalPtr security_descriptor;
  std::shared_ptr<UniqueHandle> stop;
  std::array<Instance, kListeningInstances> instances;

  ~Impl() {
    for (Instance& i : instances) i.Close();
  }

  Result<UniqueHandle> CreateInstance(bool first, const std::string& name) {
    SECURITY_ATTRIBUTES sa{};
    sa.nLength = sizeof(sa);
    sa.lpSecurityDescriptor = security_descriptor.get();
    sa.bInheritHandle = FALSE;
    DWORD create_error = ERROR_SUCCESS;
    auto create = [&]() -> Result<UniqueHandle> {
      DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
      if (first) open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
      UniqueHandle pipe(
          CreateNamedPipeW(path.c_str(), open_mode,
                           PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                               PIPE_REJECT_REMOTE_CLIENTS,
                           PIPE_UNLIMITED_INSTANCES, kPipeBufferBytes,
                           kPipeBufferBytes, 0, &sa));
      if (pipe.valid()) return pipe;
      create_error = GetLastError();
      if (first && (create_error == ERROR_ACCESS_DENIED ||
                    create_error == ERROR_PIPE_BUSY)) {
        return PipeInUse(name);
      }
      return Win32Error(create_error, "CreateNamedPipeW(" + name + ")");
    };
    auto pipe = create();
    if (pipe.ok() || create_error != ERROR_INVALID_OWNER) return pipe;
    // The descriptor names an owner other than us (LocalSystem, for wg.exe):
    // allowed with SeRestorePrivilege, which an administrator may enable.
    auto retried = WithRestorePrivilege(create);
    if (retried.ok()) return retried;
    return MakeError(
        EPERM, "named pipe " + name +
                   ": cannot give it the owner its security descriptor names "
                   "(run as LocalSystem, or as an administrator who holds "
                   "SeRestorePrivilege): " +
                   retried.error().message());
  }

  // Starts waiting for a client on `i`; notes one already there.
  Result<void> StartConnect(Instance& i) {
    i.ov = OVERLAPPED{};
    i.ov.hEvent = i.event.get();
    if (ConnectNamedPipe(i.pipe.get(), &i.ov)) {
      i.connected = true;
      return Ok();
    }
    switch (const DWORD err = GetLastError(); err) {
      case ERROR_IO_PENDING:
        i.connecting = true;
        return Ok();
      case ERROR_PIPE_CONNECTED:  // in between CreateNamedPipe and now
        i.connected = true;
        return Ok();
      default:  // e.g. ERROR_NO_DATA: came and went; the instance is spent
        return Win32Error(err, "ConnectNamedPipe");
    }
  }
};

NamedPipeListener::NamedPipeListener(std::string path,
                                     std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}

NamedPipeListener::~NamedPipeListener() = default;

Result<std::unique_ptr<NamedPipeListener>> NamedPipeListener::Create(
    std::string pipe_path, std::string_view security_descriptor_sddl) {
  auto impl = std::make_unique<Impl>();
  impl->path = WideFromUtf8(pipe_path);
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
          WideFromUtf8(security_descriptor_sddl).c_str(), SDDL_REVISION_1, &sd,
          nullptr)) {
    const DWORD err = GetLastError();
    return MakeError(
        EINVAL, Win32Error(err, "security descriptor '" +
                                    std::string(security_descriptor_sddl) + "'")
                    .message());
  }
  impl->security_descriptor.reset(sd);
  // FILE_FLAG_FIRST_PIPE_INSTANCE (below) is what refuses a second server on
  // Windows; wine 8.0 ignores it. WaitNamedPipeW tells whether the name is
  // served already without connecting to it: it fails at once with
  // ERROR_FILE_NOT_FOUND when no instance exists.
  if (WaitNamedPipeW(impl->path.c_str(), 1) ||
      GetLastError() != ERROR_FILE_NOT_FOUND) {
    return PipeInUse(pipe_path);
  }
  impl->stop = std::make_shared<UniqueHandle>(ManualResetEvent());
  if (!impl->stop->valid()) return LastWin32Error("CreateEventW");
  for (size_t n = 0; n < kListeningInstances; ++n) {
    Instance& i = impl->instances[n];
    i.event = ManualResetEvent();
    if (!i.event.valid()) return LastWin32Error("CreateEventW");
    auto pipe = impl->CreateInstance(n == 0, pipe_path);
    if (!pipe.ok()) return pipe.error();
    i.pipe = std::move(pipe).value();
  }
  return std::unique_ptr<NamedPipeListener>(
      new NamedPipeListener(std::move(pipe_path), std::move(impl)));
}

Result<std::unique_ptr<PipeConnection>> NamedPipeListener::Accept() {
  Impl& l = *impl_;
  // Rounds in which no instance could listen at all end the call after
  // this many.
  constexpr int kMaxRoundsWithoutListener = 8;
  int rounds_without_listener = 0;
  for (;;) {
    if (IsSignaled(l.stop->get())) return Canceled();
    // Every instance listens (one that could not be made is retried here);
    // the first with a client is handed out.
    std::vector<HANDLE> waits{l.stop->get()};
    std::vector<Instance*> waiting;
    Instance* ready = nullptr;
    std::optional<Error> failure;
    for (Instance& i : l.instances) {
      if (!i.pipe.valid()) {
        auto pipe = l.CreateInstance(false, path_);
        if (!pipe.ok()) {
          failure = pipe.error();
          continue;
        }
        i.pipe = std::move(pipe).value();
      }
      if (!i.connecting && !i.connected) {
        if (auto r = l.StartConnect(i); !r.ok()) {
          LogVerbose("named pipe " + path_ + ": " + r.error().message());
          i.Close();  // a fresh instance takes its place
          continue;
        }
      }
      if (i.connected && ready == nullptr) ready = &i;
      if (i.connecting) {
        waits.push_back(i.event.get());
        waiting.push_back(&i);
      }
    }
    if (ready == nullptr && waiting.empty()) {
      if (failure) return *failure;
      if (++rounds_without_listener >= kMaxRoundsWithoutListener) {
        return MakeError(EIO, "named pipe " + path_ +
                                  ": no instance could listen for a client");
      }
      continue;  // every instance was spent: make new ones
    }
    if (ready == nullptr) {
      const DWORD r = WaitForMultipleObjects(DWORD(waits.size()), waits.data(),
                                             FALSE, INFINITE);
      if (r == WAIT_OBJECT_0) return Canceled();
      if (r < WAIT_OBJECT_0 + 1 || r >= WAIT_OBJECT_0 + waits.size()) {
        return LastWin32Error("WaitForMultipleObjects(named pipe)");
      }
      Instance& i = *waiting[r - WAIT_OBJECT_0 - 1];
      DWORD ignored = 0;
      i.connecting = false;
      if (!GetOverlappedResult(i.pipe.get(), &i.ov, &ignored, FALSE)) {
        LogVerbose("named pipe " + path_ + ": " +
                   LastWin32Error("ConnectNamedPipe").message());
        i.Close();
        continue;
      }
      i.connected = true;
      ready = &i;
    }
    auto impl = std::make_unique<PipeConnection::Impl>();
    impl->pipe = std::move(ready->pipe);
    ready->connected = false;
    impl->io_event = ManualResetEvent();
    impl->stop = ManualResetEvent();
    impl->listener_stop = l.stop;
    if (!impl->io_event.valid() || !impl->stop.valid()) {
      return LastWin32Error("CreateEventW");
    }
    // Its replacement now, before the client is handed out: the other
    // instance listens meanwhile.
    if (auto pipe = l.CreateInstance(false, path_); pipe.ok()) {
      ready->pipe = std::move(pipe).value();
      if (auto r = l.StartConnect(*ready); !r.ok()) ready->Close();
    } else {
      LogError("named pipe " + path_ + ": " + pipe.error().message());
    }
    return std::make_unique<PipeConnection>(std::move(impl));
  }
}

void NamedPipeListener::Stop() { SetEvent(impl_->stop->get()); }

Result<std::unique_ptr<PipeConnection>> ConnectToNamedPipe(
    std::string_view pipe_path) {
  const std::wstring path = WideFromUtf8(pipe_path);
  UniqueHandle pipe(CreateFileW(
      path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
      FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
      nullptr));
  if (!pipe.valid()) {
    const DWORD err = GetLastError();
    Error e = Win32Error(err, "open " + std::string(pipe_path));
    if (err == ERROR_PIPE_BUSY) return MakeError(EBUSY, e.message());
    return e;
  }
  auto impl = std::make_unique<PipeConnection::Impl>();
  impl->pipe = std::move(pipe);
  impl->io_event = ManualResetEvent();
  impl->stop = ManualResetEvent();
  if (!impl->io_event.valid() || !impl->stop.valid()) {
    return LastWin32Error("CreateEventW");
  }
  return std::make_unique<PipeConnection>(std::move(impl));
}

}  // namespace zl::net
