// A test double of wintun.dll: Wintun 0.14's exports and contract, with no
// driver behind them, for the tests under wine (issue 10). Our own code,
// written from wintun.h's documented contract:
//  - adapters by name; WintunCreateAdapter on a name that exists fails with
//    ERROR_ALREADY_EXISTS (so a caller's "open, else create" is what makes
//    creating twice idempotent); WintunOpenAdapter on an unknown name fails
//    with ERROR_FILE_NOT_FOUND; closing the handle that created an adapter
//    removes it;
//  - one session per adapter (a second WintunStartSession fails with
//    ERROR_ALREADY_INITIALIZED); the capacity must be a power of two from
//    0x20000 to 0x4000000 (else ERROR_INVALID_PARAMETER);
//  - two rings of that capacity; a packet takes its size plus a 4-byte header,
//    rounded up to 4 bytes; space comes back when the packet is released
//    (receive) or taken by the test (send);
//  - the read-wait event is auto-reset and set when a packet is injected or
//    the adapter is removed;
//  - ERROR_NO_MORE_ITEMS (receive ring empty), ERROR_BUFFER_OVERFLOW (send
//    ring full), ERROR_HANDLE_EOF (adapter removed) through SetLastError.
// The test's side (wintun_double_control.h): ZlTestInjectReceive puts a
// packet on an adapter's receive ring, ZlTestTakeSent takes the oldest sent
// packet, ZlTestRemoveAdapter removes an adapter as a device removal would,
// ZlTestSessionCapacity and ZlTestAdapterCount observe, ZlTestReset forgets
// everything.
//
//
// The tap, for end-to-end tests that drive a program (zlayer-wg.exe) from
// outside its process. When the environment variable ZL_WINTUN_DOUBLE_TAP is
// "127.0.0.1:PORT" (the test driver's UDP socket) at WintunStartSession, the
// session gets a UDP socket on 127.0.0.1:0 of its own and a thread:
//  - the socket first sends the driver the datagram "zl-wintun-double-tap"
//    (before WintunStartSession returns), from which the driver learns the
//    tap's address;
//  - every datagram then received from the driver's address (others are
//    ignored) is put on the receive ring as one IP packet, as
//    ZlTestInjectReceive does (read-wait event set; dropped when the ring is
//    full or the datagram empty);
//  - every packet the program sends (WintunSendPacket) is forwarded to the
//    driver as one datagram *instead of* staying on the send ring, as a real
//    adapter takes its packets: ZlTestTakeSent sees none, and ring space comes
//    back at once (in allocation order, as ZlTestTakeSent frees it);
//  - the datagram "zl-wintun-double-remove" from the driver removes the
//    adapter, as ZlTestRemoveAdapter does (a device removal: the program's
//    next receive or send gets ERROR_HANDLE_EOF);
//  - WintunEndSession sends "zl-wintun-double-tap-bye", stops the thread
//    (a join bounded to 5 s; a thread that does not stop is left running
//    with what it uses, never freed under it) and closes the socket.
// Forwarded packets are what the program sent, IP packets (first nibble 4 or
// 6) from a TunDevice; the hello and bye begin with 'z' (nibble 7), so a
// driver tells them apart by the first byte.
// Another value of ZL_WINTUN_DOUBLE_TAP makes WintunStartSession fail with
// ERROR_INVALID_PARAMETER, and a socket error with that error.
//
// Built twice: wintun.dll, and (ZL_WINTUN_DOUBLE_OMIT_SEND_PACKET) a
// wintun.dll without the WintunSendPacket export, for the missing-export test.
// No C++ runtime state crosses the DLL boundary; a Win32 SRW lock guards all.
#include <winsock2.h>  // before windows.h
#include <windows.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#define ZL_EXPORT extern "C" __declspec(dllexport)

namespace {

constexpr DWORD kMinCapacity = 0x20000;
constexpr DWORD kMaxCapacity = 0x4000000;
constexpr DWORD kMaxPacket = 0xFFFF;
constexpr DWORD kDriverVersion = (0u << 16) | 14u;  // "0.14"

constexpr char kTapVariable[] = "ZL_WINTUN_DOUBLE_TAP";
constexpr char kTapHello[] = "zl-wintun-double-tap";
constexpr char kTapBye[] = "zl-wintun-double-tap-bye";
constexpr char kTapRemove[] = "zl-wintun-double-remove";
constexpr DWORD kTapJoinMilliseconds = 5000;

DWORD RingSpace(DWORD size) { return (size + 4 + 3) & ~DWORD{3}; }

struct Packet {
  std::vector<BYTE> bytes;
  bool done = false;  // receive: released; send: sent
};

struct Ring {
  DWORD capacity = 0;
  DWORD used = 0;
  std::deque<std::unique_ptr<Packet>> packets;  // oldest first
};

struct Session;

struct Adapter {
  std::wstring name;
  std::wstring tunnel_type;
  uint64_t luid = 0;
  bool removed = false;
  Session* session = nullptr;
};

struct Tap;

struct Session {
  std::shared_ptr<Adapter> adapter;
  HANDLE read_event = nullptr;
  Tap* tap = nullptr;  // when ZL_WINTUN_DOUBLE_TAP was set at WintunStartSession
  Ring receive;  // adapter -> us: injected, waiting to be received
  std::deque<std::unique_ptr<Packet>> handed_out;  // received, not yet released
  Ring send;     // us -> adapter: allocated (done = sent), taken by the test
};

struct AdapterHandleObject {
  std::shared_ptr<Adapter> adapter;
  bool created = false;
};

SRWLOCK g_lock = SRWLOCK_INIT;
std::map<std::wstring, std::shared_ptr<Adapter>>* g_adapters = nullptr;
uint64_t g_next_luid_index = 1;

class Locked {
 public:
  Locked() { AcquireSRWLockExclusive(&g_lock); }
  ~Locked() { ReleaseSRWLockExclusive(&g_lock); }
};

std::map<std::wstring, std::shared_ptr<Adapter>>& Adapters() {
  if (g_adapters == nullptr) g_adapters = new std::map<std::wstring, std::shared_ptr<Adapter>>();
  return *g_adapters;
}

template <typename T>
T Fail(DWORD error, T result) {
  SetLastError(error);
  return result;
}

std::shared_ptr<Adapter> Find(LPCWSTR name) {
  if (name == nullptr) return nullptr;
  auto it = Adapters().find(name);
  return it == Adapters().end() ? nullptr : it->second;
}

void Remove(const std::shared_ptr<Adapter>& adapter) {
  adapter->removed = true;
  Adapters().erase(adapter->name);
  if (adapter->session != nullptr) SetEvent(adapter->session->read_event);
}

// Puts a packet on the session's receive ring. Call with g_lock held.
DWORD InjectLocked(Session* session, const BYTE* data, DWORD size) {
  if (size == 0 || size > kMaxPacket) return ERROR_INVALID_PARAMETER;
  Ring& ring = session->receive;
  if (ring.used + RingSpace(size) > ring.capacity) return ERROR_BUFFER_OVERFLOW;
  ring.used += RingSpace(size);
  ring.packets.push_back(std::make_unique<Packet>());
  ring.packets.back()->bytes.assign(data, data + size);
  SetEvent(session->read_event);
  return ERROR_SUCCESS;
}

// --- The tap (see the top of the file) ---------------------------------------

struct Tap {
  SOCKET socket = INVALID_SOCKET;
  sockaddr_in driver{};
  HANDLE stop = nullptr;      // manual-reset
  HANDLE readable = nullptr;  // the socket's FD_READ event
  HANDLE thread = nullptr;
  Session* session = nullptr;  // guarded by g_lock; null once the session ends
  bool winsock = false;        // WSAStartup succeeded
};

// "127.0.0.1:PORT", PORT 1..65535.
bool ParseTapEndpoint(const char* text, sockaddr_in* out) {
  constexpr char kPrefix[] = "127.0.0.1:";
  if (std::strncmp(text, kPrefix, sizeof(kPrefix) - 1) != 0) return false;
  const char* digits = text + sizeof(kPrefix) - 1;
  if (*digits == 0 || std::strlen(digits) > 5) return false;
  unsigned long port = 0;
  for (const char* p = digits; *p != 0; ++p) {
    if (*p < '0' || *p > '9') return false;
    port = port * 10 + static_cast<unsigned long>(*p - '0');
  }
  if (port == 0 || port > 65535) return false;
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  out->sin_port = htons(static_cast<u_short>(port));
  return true;
}

void TapSendToDriver(const Tap& tap, const void* data, size_t size) {
  sendto(tap.socket, static_cast<const char*>(data), static_cast<int>(size), 0,
         reinterpret_cast<const sockaddr*>(&tap.driver), sizeof(tap.driver));
}

// Frees what a stopped (or never started) tap holds.
void CloseTap(Tap* tap) {
  if (tap->socket != INVALID_SOCKET) closesocket(tap->socket);
  if (tap->readable != nullptr) WSACloseEvent(tap->readable);
  if (tap->stop != nullptr) CloseHandle(tap->stop);
  if (tap->thread != nullptr) CloseHandle(tap->thread);
  if (tap->winsock) WSACleanup();
  delete tap;
}

// The tap's thread: datagrams from the driver onto the receive ring.
DWORD WINAPI TapThread(void* arg) {
  auto* tap = static_cast<Tap*>(arg);
  std::vector<char> buf(kMaxPacket + 1);
  const HANDLE handles[2] = {tap->stop, tap->readable};  // stop first: it wins a tie
  for (;;) {
    if (WaitForMultipleObjects(2, handles, FALSE, INFINITE) != WAIT_OBJECT_0 + 1) return 0;
    // Reset, then read until empty: a datagram arriving after the last
    // recvfrom sets the event again (recvfrom re-enables FD_READ).
    WSAResetEvent(tap->readable);
    for (;;) {
      sockaddr_in from{};
      int from_len = sizeof(from);
      const int n = recvfrom(tap->socket, buf.data(), static_cast<int>(buf.size()), 0,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n == SOCKET_ERROR) {
        // WSAECONNRESET: an earlier send met a closed port; not fatal.
        if (WSAGetLastError() == WSAECONNRESET) continue;
        break;  // WSAEWOULDBLOCK: drained
      }
      if (from.sin_family != AF_INET || from.sin_addr.s_addr != tap->driver.sin_addr.s_addr ||
          from.sin_port != tap->driver.sin_port) {
        continue;
      }
      Locked lock;
      if (tap->session == nullptr) continue;
      if (static_cast<size_t>(n) == sizeof(kTapRemove) - 1 &&
          std::memcmp(buf.data(), kTapRemove, sizeof(kTapRemove) - 1) == 0) {
        // As a device removal: the program's next receive or send gets
        // ERROR_HANDLE_EOF.
        Remove(tap->session->adapter);
        continue;
      }
      InjectLocked(tap->session, reinterpret_cast<const BYTE*>(buf.data()), n);
    }
  }
}

// Starts a tap if ZL_WINTUN_DOUBLE_TAP is set: ERROR_SUCCESS with *out null
// when it is not. Call with g_lock held.
DWORD StartTap(Session* session, Tap** out) {
  *out = nullptr;
  char value[64];
  const DWORD len = GetEnvironmentVariableA(kTapVariable, value, sizeof(value));
  if (len == 0) return ERROR_SUCCESS;  // not set
  auto* tap = new Tap();
  if (len >= sizeof(value) || !ParseTapEndpoint(value, &tap->driver)) {
    CloseTap(tap);
    return ERROR_INVALID_PARAMETER;
  }
  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
    CloseTap(tap);
    return ERROR_NOT_READY;
  }
  tap->winsock = true;
  tap->socket = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  tap->stop = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  tap->readable = WSACreateEvent();
  if (tap->socket == INVALID_SOCKET || tap->stop == nullptr || tap->readable == WSA_INVALID_EVENT ||
      bind(tap->socket, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0 ||
      WSAEventSelect(tap->socket, tap->readable, FD_READ) != 0) {
    DWORD error = WSAGetLastError();  // GetLastError's value too
    if (error == ERROR_SUCCESS) error = ERROR_GEN_FAILURE;
    CloseTap(tap);
    return error;
  }
  TapSendToDriver(*tap, kTapHello, sizeof(kTapHello) - 1);
  tap->session = session;
  tap->thread = CreateThread(nullptr, 0, TapThread, tap, 0, nullptr);
  if (tap->thread == nullptr) {
    const DWORD error = GetLastError();
    CloseTap(tap);
    return error;
  }
  *out = tap;
  return ERROR_SUCCESS;
}

// Says bye, stops the thread and frees the tap. Call without g_lock (the
// thread may be waiting for it), after tap->session was cleared under it.
void StopTap(Tap* tap) {
  TapSendToDriver(*tap, kTapBye, sizeof(kTapBye) - 1);
  SetEvent(tap->stop);
  if (WaitForSingleObject(tap->thread, kTapJoinMilliseconds) != WAIT_OBJECT_0) return;  // leaked, not freed
  CloseTap(tap);
}

// A tapped session's sent packets go to the driver, in allocation order, and
// leave the ring. Call with g_lock held. (Unused in the build without
// WintunSendPacket.)
[[maybe_unused]] void ForwardSentLocked(Session* session) {
  Ring& ring = session->send;
  while (!ring.packets.empty() && ring.packets.front()->done) {
    const std::vector<BYTE>& bytes = ring.packets.front()->bytes;
    TapSendToDriver(*session->tap, bytes.data(), bytes.size());
    ring.used -= RingSpace(static_cast<DWORD>(bytes.size()));
    ring.packets.pop_front();
  }
}

}  // namespace

// --- Wintun's exports -----------------------------------------------------

ZL_EXPORT void* WINAPI WintunCreateAdapter(LPCWSTR name, LPCWSTR tunnel_type, const GUID* /*requested_guid*/) {
  Locked lock;
  if (name == nullptr || *name == 0 || tunnel_type == nullptr) return Fail<void*>(ERROR_INVALID_PARAMETER, nullptr);
  if (Find(name) != nullptr) return Fail<void*>(ERROR_ALREADY_EXISTS, nullptr);
  auto adapter = std::make_shared<Adapter>();
  adapter->name = name;
  adapter->tunnel_type = tunnel_type;
  // NET_LUID: NetLuidIndex in bits 24..47, IfType (53, IF_TYPE_PROP_VIRTUAL) in 48..63.
  adapter->luid = (uint64_t{53} << 48) | (g_next_luid_index++ << 24);
  Adapters()[adapter->name] = adapter;
  return new AdapterHandleObject{adapter, true};
}

ZL_EXPORT void* WINAPI WintunOpenAdapter(LPCWSTR name) {
  Locked lock;
  auto adapter = Find(name);
  if (adapter == nullptr) return Fail<void*>(ERROR_FILE_NOT_FOUND, nullptr);
  return new AdapterHandleObject{adapter, false};
}

ZL_EXPORT void WINAPI WintunCloseAdapter(void* handle) {
  if (handle == nullptr) return;
  Locked lock;
  auto* object = static_cast<AdapterHandleObject*>(handle);
  if (object->created && !object->adapter->removed) Remove(object->adapter);
  delete object;
}

ZL_EXPORT BOOL WINAPI WintunDeleteDriver() { return TRUE; }

ZL_EXPORT void WINAPI WintunGetAdapterLUID(void* handle, uint64_t* luid) {
  Locked lock;
  *luid = static_cast<AdapterHandleObject*>(handle)->adapter->luid;
}

ZL_EXPORT DWORD WINAPI WintunGetRunningDriverVersion() { return kDriverVersion; }

ZL_EXPORT void WINAPI WintunSetLogger(void* /*logger*/) {}

ZL_EXPORT void* WINAPI WintunStartSession(void* handle, DWORD capacity) {
  Locked lock;
  auto& adapter = static_cast<AdapterHandleObject*>(handle)->adapter;
  const bool power_of_two = capacity != 0 && (capacity & (capacity - 1)) == 0;
  if (!power_of_two || capacity < kMinCapacity || capacity > kMaxCapacity) {
    return Fail<void*>(ERROR_INVALID_PARAMETER, nullptr);
  }
  if (adapter->removed) return Fail<void*>(ERROR_HANDLE_EOF, nullptr);
  if (adapter->session != nullptr) return Fail<void*>(ERROR_ALREADY_INITIALIZED, nullptr);
  auto* session = new Session();
  session->adapter = adapter;
  session->read_event = CreateEventW(nullptr, /*bManualReset=*/FALSE, FALSE, nullptr);
  session->receive.capacity = capacity;
  session->send.capacity = capacity;
  const DWORD tap_error = StartTap(session, &session->tap);
  if (tap_error != ERROR_SUCCESS) {
    CloseHandle(session->read_event);
    delete session;
    return Fail<void*>(tap_error, nullptr);
  }
  adapter->session = session;
  return session;
}

ZL_EXPORT void WINAPI WintunEndSession(void* handle) {
  auto* session = static_cast<Session*>(handle);
  Tap* tap = nullptr;
  {
    Locked lock;
    std::swap(tap, session->tap);
    if (tap != nullptr) tap->session = nullptr;
  }
  if (tap != nullptr) StopTap(tap);
  Locked lock;
  if (session->adapter->session == session) session->adapter->session = nullptr;
  CloseHandle(session->read_event);
  delete session;
}

ZL_EXPORT HANDLE WINAPI WintunGetReadWaitEvent(void* handle) { return static_cast<Session*>(handle)->read_event; }

ZL_EXPORT BYTE* WINAPI WintunReceivePacket(void* handle, DWORD* size) {
  Locked lock;
  auto* session = static_cast<Session*>(handle);
  if (session->adapter->removed) return Fail<BYTE*>(ERROR_HANDLE_EOF, nullptr);
  if (session->receive.packets.empty()) return Fail<BYTE*>(ERROR_NO_MORE_ITEMS, nullptr);
  session->handed_out.push_back(std::move(session->receive.packets.front()));
  session->receive.packets.pop_front();
  Packet& packet = *session->handed_out.back();
  *size = static_cast<DWORD>(packet.bytes.size());
  return packet.bytes.data();
}

ZL_EXPORT void WINAPI WintunReleaseReceivePacket(void* handle, const BYTE* data) {
  Locked lock;
  auto* session = static_cast<Session*>(handle);
  for (auto it = session->handed_out.begin(); it != session->handed_out.end(); ++it) {
    if ((*it)->bytes.data() == data) {
      session->receive.used -= RingSpace(static_cast<DWORD>((*it)->bytes.size()));
      session->handed_out.erase(it);
      return;
    }
  }
}

ZL_EXPORT BYTE* WINAPI WintunAllocateSendPacket(void* handle, DWORD size) {
  Locked lock;
  auto* session = static_cast<Session*>(handle);
  if (session->adapter->removed) return Fail<BYTE*>(ERROR_HANDLE_EOF, nullptr);
  if (size == 0 || size > kMaxPacket) return Fail<BYTE*>(ERROR_INVALID_PARAMETER, nullptr);
  Ring& ring = session->send;
  if (ring.used + RingSpace(size) > ring.capacity) return Fail<BYTE*>(ERROR_BUFFER_OVERFLOW, nullptr);
  ring.used += RingSpace(size);
  ring.packets.push_back(std::make_unique<Packet>());
  ring.packets.back()->bytes.resize(size);
  return ring.packets.back()->bytes.data();
}

#ifndef ZL_WINTUN_DOUBLE_OMIT_SEND_PACKET
ZL_EXPORT void WINAPI WintunSendPacket(void* handle, const BYTE* data) {
  Locked lock;
  auto* session = static_cast<Session*>(handle);
  for (auto& packet : session->send.packets) {
    if (packet->bytes.data() == data) packet->done = true;
  }
  if (session->tap != nullptr) ForwardSentLocked(session);
}
#endif

// --- The test's side --------------------------------------------------------

ZL_EXPORT DWORD WINAPI ZlTestInjectReceive(LPCWSTR name, const BYTE* data, DWORD size) {
  Locked lock;
  auto adapter = Find(name);
  if (adapter == nullptr || adapter->session == nullptr) return ERROR_NOT_FOUND;
  return InjectLocked(adapter->session, data, size);
}

ZL_EXPORT DWORD WINAPI ZlTestTakeSent(LPCWSTR name, BYTE* buf, DWORD capacity, DWORD* size) {
  Locked lock;
  auto adapter = Find(name);
  if (adapter == nullptr || adapter->session == nullptr) return ERROR_NOT_FOUND;
  Ring& ring = adapter->session->send;
  // Sent in allocation order: a packet allocated but not yet sent holds back
  // the ones behind it, as on the real ring.
  if (ring.packets.empty() || !ring.packets.front()->done) return ERROR_NO_MORE_ITEMS;
  const std::vector<BYTE>& bytes = ring.packets.front()->bytes;
  *size = static_cast<DWORD>(bytes.size());
  if (bytes.size() > capacity) return ERROR_INSUFFICIENT_BUFFER;
  std::memcpy(buf, bytes.data(), bytes.size());
  ring.used -= RingSpace(static_cast<DWORD>(bytes.size()));
  ring.packets.pop_front();
  return ERROR_SUCCESS;
}

ZL_EXPORT DWORD WINAPI ZlTestRemoveAdapter(LPCWSTR name) {
  Locked lock;
  auto adapter = Find(name);
  if (adapter == nullptr) return ERROR_NOT_FOUND;
  Remove(adapter);
  return ERROR_SUCCESS;
}

ZL_EXPORT DWORD WINAPI ZlTestSessionCapacity(LPCWSTR name) {
  Locked lock;
  auto adapter = Find(name);
  return adapter == nullptr || adapter->session == nullptr ? 0 : adapter->session->receive.capacity;
}

ZL_EXPORT DWORD WINAPI ZlTestAdapterCount() {
  Locked lock;
  return static_cast<DWORD>(Adapters().size());
}

ZL_EXPORT void WINAPI ZlTestReset() {
  Locked lock;
  Adapters().clear();
}
