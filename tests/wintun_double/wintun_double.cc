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
// Built twice: wintun.dll, and (ZL_WINTUN_DOUBLE_OMIT_SEND_PACKET) a
// wintun.dll without the WintunSendPacket export, for the missing-export test.
// No C++ runtime state crosses the DLL boundary; a Win32 SRW lock guards all.
#include <windows.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#define ZL_EXPORT extern "C" __declspec(dllexport)

namespace {

constexpr DWORD kMinCapacity = 0x20000;
constexpr DWORD kMaxCapacity = 0x4000000;
constexpr DWORD kMaxPacket = 0xFFFF;
constexpr DWORD kDriverVersion = (0u << 16) | 14u;  // "0.14"

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

struct Session {
  std::shared_ptr<Adapter> adapter;
  HANDLE read_event = nullptr;
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
  adapter->session = session;
  return session;
}

ZL_EXPORT void WINAPI WintunEndSession(void* handle) {
  Locked lock;
  auto* session = static_cast<Session*>(handle);
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
  for (auto& packet : static_cast<Session*>(handle)->send.packets) {
    if (packet->bytes.data() == data) packet->done = true;
  }
}
#endif

// --- The test's side --------------------------------------------------------

ZL_EXPORT DWORD WINAPI ZlTestInjectReceive(LPCWSTR name, const BYTE* data, DWORD size) {
  Locked lock;
  auto adapter = Find(name);
  if (adapter == nullptr || adapter->session == nullptr) return ERROR_NOT_FOUND;
  if (size == 0 || size > kMaxPacket) return ERROR_INVALID_PARAMETER;
  Ring& ring = adapter->session->receive;
  if (ring.used + RingSpace(size) > ring.capacity) return ERROR_BUFFER_OVERFLOW;
  ring.used += RingSpace(size);
  ring.packets.push_back(std::make_unique<Packet>());
  ring.packets.back()->bytes.assign(data, data + size);
  SetEvent(adapter->session->read_event);
  return ERROR_SUCCESS;
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
