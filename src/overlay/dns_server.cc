#include "overlay/dns_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "base/unique_fd.h"
#include "net/sockaddr.h"

namespace zl::overlay {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// The largest UDP payload (RFC 768 with IPv4's 16-bit total length).
inline constexpr size_t kMaxDatagram = 65535;
// Per round, so a UDP flood cannot starve the TCP clients (and vice versa).
inline constexpr int kUdpPerRound = 64;
inline constexpr size_t kTcpReadPerRound = 64 * 1024;
inline constexpr size_t kTcpReadChunk = 4096;
// A client that does not read its answers is not read from either once this
// much waits for it (it can not make the server queue without bound).
inline constexpr size_t kMaxPendingOutput = 256 * 1024;
inline constexpr int kListenBacklog = 64;
// Port 0: UDP picks a free port; TCP may find it taken. Tries that often.
inline constexpr int kBindAttempts = 16;
// Out of descriptors: stop accepting for a while instead of spinning.
inline constexpr std::chrono::milliseconds kAcceptPause{100};

Result<UniqueFd> OpenSocket(const Endpoint& at, int type) {
  const int family = at.address().is_v4() ? AF_INET : AF_INET6;
  UniqueFd fd(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket");
  const int one = 1;
  if (family == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
    return ErrnoError("setsockopt IPV6_V6ONLY");
  }
  // A restarted server must not wait for its old connections' TIME_WAIT.
  if (type == SOCK_STREAM &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return ErrnoError("setsockopt SO_REUSEADDR");
  }
  sockaddr_storage storage;
  const socklen_t len = net::ToSockaddr(at, &storage);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return ErrnoError(fmt::format("bind {} {}", type == SOCK_STREAM ? "tcp" : "udp",
                                  at.ToString()));
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), kListenBacklog) != 0) {
    return ErrnoError("listen");
  }
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) return 0;
  auto endpoint = net::FromSockaddr(storage, len);
  return endpoint ? endpoint->port() : 0;
}

// Milliseconds from `now` until `deadline`, rounded up, at least 0.
int MillisUntil(SteadyTime now, SteadyTime deadline) {
  if (deadline <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return int(std::min<int64_t>(ms, 60'000));
}

}  // namespace

struct DnsServer::Impl {
  // One TCP connection (RFC 7766): queries framed by a 2-byte length, any
  // number per connection, answered in order.
  struct Client {
    UniqueFd fd;
    std::vector<uint8_t> in;   // bytes read, not yet a whole message
    std::vector<uint8_t> out;  // answers not yet written, from out_pos
    size_t out_pos = 0;
    bool eof = false;  // the client shut down its side: flush, then close
    SteadyTime last_activity;

    size_t pending() const { return out.size() - out_pos; }
    bool HasWholeMessage() const {
      return in.size() >= 2 && in.size() - 2 >= LoadBe16(in.data());
    }
  };

  Impl(DnsZone& z, DnsServerOptions o) : zone(z), options(o) {}

  void Run();
  void ServeUdp();
  void Accept(SteadyTime now);
  // False when the connection is to be closed.
  bool ReadFrom(Client& client, SteadyTime now);
  bool Serve(Client& client, SteadyTime now);
  bool WriteTo(Client& client, SteadyTime now);
  // Answers whole messages until none is left or kMaxPendingOutput waits.
  void AnswerFrames(Client& client);

  DnsZone& zone;
  const DnsServerOptions options;
  UniqueFd udp;
  UniqueFd tcp;
  UniqueFd wake;  // eventfd: Stop() writes, the thread returns
  uint16_t port = 0;
  std::thread thread;

  // Owned by the thread while it runs.
  std::vector<std::unique_ptr<Client>> clients;
  SteadyTime accept_paused_until{};
  std::vector<uint8_t> datagram = std::vector<uint8_t>(kMaxDatagram);
};

void DnsServer::Impl::Run() {
  std::vector<pollfd> fds;
  constexpr size_t kFirstClient = 3;
  for (;;) {
    SteadyTime now = std::chrono::steady_clock::now();
    const bool accepting = now >= accept_paused_until;
    int timeout = accepting ? -1 : MillisUntil(now, accept_paused_until);
    fds.clear();
    fds.push_back({wake.get(), POLLIN, 0});
    fds.push_back({udp.get(), POLLIN, 0});
    fds.push_back({accepting ? tcp.get() : -1, POLLIN, 0});  // -1: not polled
    for (const auto& client : clients) {
      short events = 0;
      if (!client->eof && client->pending() < kMaxPendingOutput) events |= POLLIN;
      if (client->pending() > 0) events |= POLLOUT;
      fds.push_back({client->fd.get(), events, 0});
      const int idle = MillisUntil(now, client->last_activity + options.tcp_idle_timeout);
      timeout = timeout < 0 ? idle : std::min(timeout, idle);
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      LogError(fmt::format("dns: poll failed ({}); the DNS server stops", errno));
      return;
    }
    if (fds[0].revents != 0) return;  // Stop()
    if (fds[1].revents & POLLIN) ServeUdp();

    now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& client = *clients[i];
      const short revents = fds[kFirstClient + i].revents;
      bool keep = (revents & (POLLERR | POLLNVAL)) == 0;
      if (keep && (revents & (POLLIN | POLLHUP))) keep = ReadFrom(client, now);
      if (keep) keep = Serve(client, now);
      if (keep && client.eof && client.pending() == 0) keep = false;
      if (keep && now - client.last_activity >= options.tcp_idle_timeout) keep = false;
      if (!keep) clients[i].reset();
    }
    std::erase(clients, nullptr);
    if (fds[2].revents & POLLIN) Accept(now);
  }
}

void DnsServer::Impl::ServeUdp() {
  for (int i = 0; i < kUdpPerRound; ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = ::recvfrom(udp.get(), datagram.data(), datagram.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: drained; anything else: nothing to answer
    }
    std::vector<uint8_t> answer =
        zone.Answer(ByteSpan(datagram.data(), size_t(n)), DnsZone::Transport::kUdp);
    if (answer.empty()) continue;
    // A full send buffer drops the answer, as the network may: the client
    // asks again.
    (void)::sendto(udp.get(), answer.data(), answer.size(), MSG_DONTWAIT,
                   reinterpret_cast<const sockaddr*>(&from), from_len);
  }
}

void DnsServer::Impl::Accept(SteadyTime now) {
  for (;;) {
    UniqueFd fd(::accept4(tcp.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        LogError(fmt::format("dns: accept failed ({}); pausing TCP", errno));
        accept_paused_until = now + kAcceptPause;
      }
      return;
    }
    if (clients.size() >= options.max_tcp_clients) continue;  // closed at once
    auto client = std::make_unique<Client>();
    client->fd = std::move(fd);
    client->last_activity = now;
    clients.push_back(std::move(client));
  }
}

bool DnsServer::Impl::ReadFrom(Client& client, SteadyTime now) {
  size_t total = 0;
  while (total < kTcpReadPerRound && !client.eof) {
    const size_t old = client.in.size();
    client.in.resize(old + kTcpReadChunk);
    const ssize_t n = ::recv(client.fd.get(), client.in.data() + old, kTcpReadChunk, 0);
    client.in.resize(old + size_t(std::max<ssize_t>(n, 0)));
    if (n > 0) {
      total += size_t(n);
      client.last_activity = now;
    } else if (n == 0) {
      client.eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      return false;
    }
  }
  return true;
}

bool DnsServer::Impl::Serve(Client& client, SteadyTime now) {
  // Each turn answers at least one message or stops; the input is bounded
  // by what one round reads.
  for (;;) {
    AnswerFrames(client);
    if (!WriteTo(client, now)) return false;
    if (client.pending() >= kMaxPendingOutput || !client.HasWholeMessage()) return true;
  }
}

void DnsServer::Impl::AnswerFrames(Client& client) {
  size_t pos = 0;
  while (client.in.size() - pos >= 2 && client.pending() < kMaxPendingOutput) {
    const size_t len = LoadBe16(client.in.data() + pos);
    if (client.in.size() - pos - 2 < len) break;
    std::vector<uint8_t> answer =
        zone.Answer(ByteSpan(client.in.data() + pos + 2, len), DnsZone::Transport::kTcp);
    pos += 2 + len;
    if (answer.empty()) continue;
    uint8_t prefix[2];
    StoreBe16(prefix, uint16_t(answer.size()));  // the zone keeps TCP answers < 64 KiB
    client.out.insert(client.out.end(), prefix, prefix + 2);
    client.out.insert(client.out.end(), answer.begin(), answer.end());
  }
  client.in.erase(client.in.begin(), client.in.begin() + long(pos));
}

bool DnsServer::Impl::WriteTo(Client& client, SteadyTime now) {
  while (client.pending() > 0) {
    const ssize_t n = ::send(client.fd.get(), client.out.data() + client.out_pos,
                             client.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      client.out_pos += size_t(n);
      client.last_activity = now;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (client.out_pos >= kMaxPendingOutput) {  // drop what was sent
        client.out.erase(client.out.begin(), client.out.begin() + long(client.out_pos));
        client.out_pos = 0;
      }
      return true;
    } else {
      return false;
    }
  }
  client.out.clear();
  client.out_pos = 0;
  return true;
}

Result<std::unique_ptr<DnsServer>> DnsServer::Start(const Endpoint& at, DnsZone& zone,
                                                    DnsServerOptions options) {
  auto impl = std::make_unique<Impl>(zone, options);
  impl->wake.Reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!impl->wake) return ErrnoError("eventfd");
  for (int attempt = 1;; ++attempt) {
    auto udp = OpenSocket(at, SOCK_DGRAM);
    if (!udp.ok()) return udp.error().Wrap("dns server");
    const uint16_t port = LocalPort(udp->get());
    auto tcp = OpenSocket(Endpoint(at.address(), port), SOCK_STREAM);
    if (tcp.ok()) {
      impl->udp = std::move(*udp);
      impl->tcp = std::move(*tcp);
      impl->port = port;
      break;
    }
    if (at.port() != 0 || tcp.error().code() != EADDRINUSE || attempt == kBindAttempts) {
      return tcp.error().Wrap("dns server");
    }
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    SetThreadName("zl-dns");
    raw->Run();
  });
  return std::unique_ptr<DnsServer>(new DnsServer(std::move(impl)));
}

DnsServer::DnsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DnsServer::~DnsServer() { Stop(); }

void DnsServer::Stop() {
  if (!impl_->thread.joinable()) return;
  const uint64_t one = 1;
  // An eventfd write of 1 cannot fail short of overflow; the thread wakes.
  (void)!::write(impl_->wake.get(), &one, sizeof(one));
  impl_->thread.join();
  impl_->clients.clear();
  impl_->tcp.Reset();
  impl_->udp.Reset();
}

uint16_t DnsServer::port() const { return impl_->port; }

}  // namespace zl::overlay
