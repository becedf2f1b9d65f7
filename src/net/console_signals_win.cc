#include "net/console_signals_win.h"

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <utility>
#include <vector>

#include "net/win32_error_win.h"

namespace zl::net {
namespace {

struct Subscriber {
  uint64_t id;
  ConsoleSignalSubscription* subscription;
};

// The subscriptions of the process. Never destroyed: the handler's thread may
// run while the process exits.
struct Registry {
  std::mutex mu;
  std::condition_variable unsubscribed;
  std::vector<Subscriber> subscribers;
  uint64_t next_id = 1;
  bool installed = false;
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry;
  return *registry;
}

bool Subscribed(const Registry& registry, uint64_t id) {
  return std::any_of(registry.subscribers.begin(), registry.subscribers.end(),
                     [id](const Subscriber& s) { return s.id == id; });
}

}  // namespace

int SignalFromConsoleEvent(DWORD ctrl_type) {
  switch (ctrl_type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
      return SIGINT;
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      return SIGTERM;
    default:  // CTRL_LOGOFF_EVENT among them: see the header
      return 0;
  }
}

ConsoleSignalSubscription::ConsoleSignalSubscription(Deliver deliver)
    : deliver_(std::move(deliver)) {}

Result<std::unique_ptr<ConsoleSignalSubscription>>
ConsoleSignalSubscription::Create(Deliver deliver) {
  Registry& registry = GetRegistry();
  std::unique_ptr<ConsoleSignalSubscription> subscription(
      new ConsoleSignalSubscription(std::move(deliver)));
  std::lock_guard<std::mutex> lock(registry.mu);
  // Installed once and for good: removing it could race with the system
  // starting the handler's thread, and an idle handler passes events on.
  if (!registry.installed) {
    if (!SetConsoleCtrlHandler(HandleConsoleCtrlEvent, TRUE)) {
      return LastWin32Error("SetConsoleCtrlHandler");
    }
    registry.installed = true;
  }
  registry.subscribers.push_back(
      Subscriber{registry.next_id++, subscription.get()});
  return subscription;
}

ConsoleSignalSubscription::~ConsoleSignalSubscription() {
  Registry& registry = GetRegistry();
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    std::erase_if(registry.subscribers, [this](const Subscriber& s) {
      return s.subscription == this;
    });
  }
  registry.unsubscribed.notify_all();
}

void ConsoleSignalSubscription::Want(int signo) {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (signo > 0 && signo < 64) wanted_ |= uint64_t{1} << signo;
}

BOOL WINAPI HandleConsoleCtrlEvent(DWORD ctrl_type) {
  const int signo = SignalFromConsoleEvent(ctrl_type);
  if (signo == 0) return FALSE;
  Registry& registry = GetRegistry();
  std::unique_lock<std::mutex> lock(registry.mu);
  std::vector<uint64_t> took;
  for (const Subscriber& s : registry.subscribers) {
    if ((s.subscription->wanted_ & (uint64_t{1} << signo)) == 0) continue;
    s.subscription->deliver_(signo);
    took.push_back(s.id);
  }
  if (took.empty()) return FALSE;
  if (ctrl_type == CTRL_CLOSE_EVENT || ctrl_type == CTRL_SHUTDOWN_EVENT) {
    // Returning lets Windows end the process: give the loops time to stop.
    registry.unsubscribed.wait_for(lock, kConsoleCloseGrace, [&] {
      return std::none_of(took.begin(), took.end(), [&](uint64_t id) {
        return Subscribed(registry, id);
      });
    });
  }
  return TRUE;
}

}  // namespace zl::net
