// zlayer-overlay: the overlay daemon and its command line.
//
//   zlayer-overlay [--state-dir DIR] daemon [--interface zl0] [--listen-port 51820] ...
//   zlayer-overlay [--state-dir DIR] init --cidr 10.200.0.0/16 --name NAME ...
//   zlayer-overlay [--state-dir DIR] token create|list|revoke ...
//   zlayer-overlay [--state-dir DIR] join TOKEN --name NAME
//   zlayer-overlay [--state-dir DIR] status|peers [--json] | events | leave
//   zlayer-overlay [--state-dir DIR] node remove NAME | dns register|unregister ...
//
// Every command but `daemon` is a client of the daemon's local API on
// DIR/control.sock. Errors are one line on stderr and a non-zero exit:
// 1 for a refused or failed operation, 2 for a usage error, 3 when the
// daemon is not running.

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "cli_format.h"
#include "crypto/random.h"
#include "net/event_loop.h"
#include "overlay/daemon.h"
#include "overlay/http_client.h"
#include "overlay/state_files.h"
#include "uapi/server.h"

namespace {

using nlohmann::json;
using zl::overlay::HttpClient;
using zl::overlay::HttpTarget;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoDaemon = 3;

int Fail(const std::string& message, int code = kExitFailed) {
  std::fprintf(stderr, "zlayer-overlay: %s\n", message.c_str());
  return code;
}

// A call to the local API. Prints the error and returns nullopt on failure;
// `exit_code` tells the caller which code to exit with.
struct Api {
  std::string state_dir;
  int exit_code = 0;

  std::optional<json> Call(const std::string& method, const std::string& path,
                           const json& body = json::object(),
                           std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const std::string socket = zl::overlay::ControlSocketPath(state_dir);
    HttpClient client(HttpTarget{socket, {}});
    auto response = client.Request(method, path, body.empty() ? "" : body.dump(), timeout);
    if (!response.ok()) {
      const int code = response.error().code();
      if (code == ENOENT || code == ECONNREFUSED) {
        exit_code = Fail("the daemon is not running (no answer on " + socket +
                             "); start it with `zlayer-overlay --state-dir " + state_dir +
                             " daemon`",
                         kExitNoDaemon);
      } else if (code == EACCES || code == EPERM) {
        exit_code = Fail("permission denied on " + socket + " (run as root)", kExitFailed);
      } else {
        exit_code = Fail(response.error().message());
      }
      return std::nullopt;
    }
    json j = json::parse(response->body, nullptr, false);
    if (response->status >= 400) {
      std::string message = "HTTP " + std::to_string(response->status);
      if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string()) {
        message = j["error"].get<std::string>();
      }
      exit_code = Fail(message);
      return std::nullopt;
    }
    if (j.is_discarded()) {
      exit_code = Fail("the daemon's answer is not JSON");
      return std::nullopt;
    }
    return j;
  }
};

int RunDaemon(const zl::overlay::DaemonOptions& options) {
  auto loop = zl::net::EventLoop::Create();
  if (!loop.ok()) return Fail("event loop: " + loop.error().message());
  // Block the signals before any thread starts, so the signalfd gets them.
  auto signals = (*loop)->WatchSignals({SIGINT, SIGTERM, SIGHUP}, [&](int signo) {
    zl::LogVerbose(std::string("received ") + strsignal(signo) + ", shutting down");
    (*loop)->Stop();
  });
  if (!signals.ok()) return Fail("signals: " + signals.error().message());
  ::signal(SIGPIPE, SIG_IGN);
  // The device's loop runs on its own thread from the start: the daemon
  // configures the device (a control call the loop must run) while it
  // starts, and answers the local API from other threads.
  zl::Result<void> ran = zl::Ok();
  std::thread loop_thread([&] { ran = (*loop)->Run(); });
  zl::SystemClock clock;
  zl::crypto::SystemRng rng;
  auto daemon = zl::overlay::Daemon::Start(**loop, options, clock, rng);
  if (!daemon.ok()) {
    (*loop)->Stop();
    loop_thread.join();
    std::string m = daemon.error().message();
    // The TUN's own messages already name the cause (a missing capability,
    // file permissions, another owner); add the hint only where none did.
    if (daemon.error().code() == EPERM && m.find("root") == std::string::npos &&
        m.find("owned") == std::string::npos && m.find("CAP_NET_ADMIN") == std::string::npos) {
      m += " (the daemon needs root or CAP_NET_ADMIN)";
    }
    return Fail(m);
  }
  // The UAPI socket, so wg(8) shows and may inspect the overlay interface.
  const std::string uapi_path = zl::uapi::SocketPathForInterface(options.interface);
  zl::uapi::UapiServerOptions uapi_options;
  uapi_options.on_socket_file_gone = [uapi_path] {
    zl::LogError("UAPI socket " + uapi_path + " was removed; wg(8) can no longer reach this node");
  };
  auto uapi = zl::uapi::UapiServer::Start(uapi_path, (*daemon)->device_api(), std::move(uapi_options));
  if (!uapi.ok()) {
    (*loop)->Stop();
    loop_thread.join();
    (*daemon)->Stop();
    return Fail("UAPI socket " + uapi_path + ": " + uapi.error().message());
  }
  zl::LogError("zlayer-overlay " + std::string(ZL_VERSION) + " running on " + options.interface +
               ", state in " + options.state_dir);
  loop_thread.join();
  // Shutdown order: the daemon's servers and threads, then the device
  // (keys wiped, TUN removed), then the UAPI server and its socket.
  (*daemon)->Stop();
  (*uapi)->Stop();
  if (!ran.ok()) return Fail("event loop: " + ran.error().message());
  return 0;
}

std::string Describe(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string("-");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"zlayer-overlay: encrypted overlay networking on WireGuard.\n"
                 "Run `daemon` on every node; on the first, `init` an overlay and `token create`;\n"
                 "on the others, `join TOKEN --name NAME`. Every other command talks to the\n"
                 "local daemon through DIR/control.sock.",
                 "zlayer-overlay"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("zlayer-overlay ") + ZL_VERSION);
    std::string state_dir(zl::overlay::kDefaultStateDir);
    app.add_option("--state-dir", state_dir, "Node state directory")
        ->capture_default_str();

    // daemon
    zl::overlay::DaemonOptions daemon_options;
    std::string daemon_endpoint, metrics_listen;
    auto* daemon = app.add_subcommand("daemon", "Run this node (in the foreground)");
    daemon->add_option("--interface", daemon_options.interface, "WireGuard interface name")
        ->capture_default_str();
    daemon->add_option("--listen-port", daemon_options.listen_port, "WireGuard UDP port")
        ->capture_default_str();
    daemon->add_option("--endpoint", daemon_endpoint,
                       "HOST:PORT peers should send to (published when it changes)");
    daemon->add_option("--metrics-listen", metrics_listen,
                       "ADDR:PORT for Prometheus metrics on /metrics");

    // init
    std::string init_cidr, init_cidr6, init_name, init_endpoint, init_zone;
    int init_prefix = 0, init_dns_port = 0;
    auto* init = app.add_subcommand("init", "Make this node the control node of a new overlay");
    init->add_option("--cidr", init_cidr, "IPv4 address space, e.g. 10.200.0.0/16")->required();
    init->add_option("--cidr6", init_cidr6, "IPv6 address space, e.g. fd42:0:0::/48");
    init->add_option("--name", init_name, "This node's name (a DNS label)")->required();
    init->add_option("--endpoint", init_endpoint,
                     "HOST:PORT nodes reach this one at (default: the default route's source "
                     "address and the listen port)");
    init->add_option("--node-prefix", init_prefix, "Prefix length of each node's subnet (24)");
    init->add_option("--dns-zone", init_zone, "DNS zone (zlayer.internal)");
    init->add_option("--dns-port", init_dns_port, "DNS port on every node's overlay address (53)");

    // token
    auto* token = app.add_subcommand("token", "Join tokens (control node)");
    token->require_subcommand(1);
    std::string token_ttl = "1h", token_name, revoke_id;
    auto* token_create = token->add_subcommand(
        "create", "Create a single-use join token; it is printed as the last line");
    token_create->add_option("--ttl", token_ttl, "Lifetime: 90s, 30m, 1h, 2d")->capture_default_str();
    token_create->add_option("--name", token_name, "The node it is for (any name if unset)");
    auto* token_list = token->add_subcommand("list", "List tokens");
    auto* token_revoke = token->add_subcommand("revoke", "Revoke a pending token");
    token_revoke->add_option("ID", revoke_id, "Token ID (see `token list`)")->required();

    // join
    std::string join_token, join_name, join_endpoint;
    auto* join = app.add_subcommand("join", "Join an overlay with a token");
    join->add_option("TOKEN", join_token, "The token from `token create`")->required();
    join->add_option("--name", join_name, "This node's name (a DNS label)");
    join->add_option("--endpoint", join_endpoint,
                     "HOST:PORT peers reach this node at (default: the default route's source "
                     "address and the listen port)");

    bool json_out = false;
    auto* status = app.add_subcommand("status", "This node, its overlay and its peers");
    status->add_flag("--json", json_out, "Print JSON");
    auto* peers = app.add_subcommand("peers", "The peers and their health");
    peers->add_flag("--json", json_out, "Print JSON");
    auto* events = app.add_subcommand("events", "Print events as JSON lines as they happen");
    uint64_t events_since = 0;
    events->add_option("--since", events_since, "Start after this sequence number (0: all kept)");
    bool leave_force = false;
    auto* leave = app.add_subcommand("leave", "Leave the overlay");
    leave->add_flag("--force", leave_force, "Leave locally even if the control node is unreachable");

    auto* node = app.add_subcommand("node", "Members (control node)");
    node->require_subcommand(1);
    std::string remove_name;
    auto* node_remove = node->add_subcommand("remove", "Remove a node that is gone");
    node_remove->add_option("NAME", remove_name, "Node name")->required();

    auto* dns = app.add_subcommand("dns", "Extra DNS names in the overlay zone");
    dns->require_subcommand(1);
    std::string dns_name, dns_value;
    auto* dns_register = dns->add_subcommand(
        "register", "NAME ADDR (A/AAAA), or _service._proto.NAME TARGET:PORT (SRV)");
    dns_register->add_option("NAME", dns_name, "Name in the zone")->required();
    dns_register->add_option("VALUE", dns_value, "Address, or TARGET:PORT for a service")
        ->required();
    auto* dns_unregister = dns->add_subcommand("unregister", "Remove a name");
    dns_unregister->add_option("NAME", dns_name, "Name in the zone")->required();

    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int rc = app.exit(e);
      return rc == 0 ? 0 : kExitUsage;
    }

    if (const char* level = std::getenv("LOG_LEVEL")) {
      if (auto parsed = zl::ParseLogLevel(level)) zl::SetLogLevel(*parsed);
    }
    zl::SetLogPrefix("zlayer-overlay");
    Api api{state_dir};

    if (*daemon) {
      daemon_options.state_dir = state_dir;
      if (!daemon_endpoint.empty()) {
        auto e = zl::Endpoint::Parse(daemon_endpoint);
        if (!e.ok()) return Fail("--endpoint: " + e.error().message(), kExitUsage);
        daemon_options.endpoint = *e;
      }
      if (!metrics_listen.empty()) {
        auto e = zl::Endpoint::Parse(metrics_listen);
        if (!e.ok()) return Fail("--metrics-listen: " + e.error().message(), kExitUsage);
        daemon_options.metrics_listen = *e;
      }
      return RunDaemon(daemon_options);
    }
    if (*init) {
      json body{{"name", init_name}, {"cidr", init_cidr}};
      if (!init_cidr6.empty()) body["cidr6"] = init_cidr6;
      if (!init_endpoint.empty()) body["endpoint"] = init_endpoint;
      if (init_prefix != 0) body["node_prefix"] = init_prefix;
      if (!init_zone.empty()) body["dns_zone"] = init_zone;
      if (init_dns_port != 0) body["dns_port"] = init_dns_port;
      auto r = api.Call("POST", "/v1/init", body);
      if (!r) return api.exit_code;
      std::printf("initialised the overlay %s: this node is %s, address %s (subnet %s), "
                  "endpoint %s\n",
                  Describe(*r, "dns_zone").c_str(), Describe(*r, "name").c_str(),
                  Describe(*r, "address").c_str(), Describe(*r, "subnet").c_str(),
                  Describe(*r, "endpoint").c_str());
      return 0;
    }
    if (*token_create) {
      auto ttl = zl::overlay::cli::ParseDuration(token_ttl);
      if (!ttl || *ttl <= 0) return Fail("--ttl: use e.g. 90s, 30m, 1h or 2d", kExitUsage);
      json body{{"ttl_seconds", *ttl}};
      if (!token_name.empty()) body["name"] = token_name;
      auto r = api.Call("POST", "/v1/tokens", body);
      if (!r) return api.exit_code;
      std::fprintf(stderr, "token %s for subnet %s, single use, expires in %s; join with:\n",
                   Describe(*r, "id").c_str(), Describe(*r, "subnet4").c_str(), token_ttl.c_str());
      std::fprintf(stderr, "  zlayer-overlay join TOKEN --name NAME\n");
      std::fflush(stderr);
      std::printf("%s\n", Describe(*r, "token").c_str());
      return 0;
    }
    if (*token_list) {
      auto r = api.Call("GET", "/v1/tokens");
      if (!r) return api.exit_code;
      std::fputs(zl::overlay::cli::FormatTokens((*r)["tokens"]).c_str(), stdout);
      return 0;
    }
    if (*token_revoke) {
      auto r = api.Call("DELETE", "/v1/tokens/" + revoke_id);
      if (!r) return api.exit_code;
      std::printf("revoked token %s\n", revoke_id.c_str());
      return 0;
    }
    if (*join) {
      json body{{"token", join_token}};
      if (!join_name.empty()) body["name"] = join_name;
      if (!join_endpoint.empty()) body["endpoint"] = join_endpoint;
      std::fprintf(stderr, "joining through the tunnel to the control node...\n");
      auto r = api.Call("POST", "/v1/join", body, std::chrono::seconds(60));
      if (!r) return api.exit_code;
      std::printf("joined the overlay %s as %s, address %s (subnet %s)\n",
                  Describe(*r, "dns_zone").c_str(), Describe(*r, "name").c_str(),
                  Describe(*r, "address").c_str(), Describe(*r, "subnet").c_str());
      return 0;
    }
    if (*status) {
      auto r = api.Call("GET", "/v1/status");
      if (!r) return api.exit_code;
      if (json_out) {
        std::printf("%s\n", r->dump(2).c_str());
      } else {
        std::fputs(zl::overlay::cli::FormatStatus(*r).c_str(), stdout);
      }
      return 0;
    }
    if (*peers) {
      auto r = api.Call("GET", "/v1/peers");
      if (!r) return api.exit_code;
      if (json_out) {
        std::printf("%s\n", (*r)["peers"].dump(2).c_str());
      } else {
        std::fputs(zl::overlay::cli::FormatPeers((*r)["peers"]).c_str(), stdout);
      }
      return 0;
    }
    if (*events) {
      uint64_t since = events_since;
      for (;;) {
        auto r = api.Call("GET", "/v1/events?since=" + std::to_string(since) + "&timeout=30", {},
                          std::chrono::seconds(40));
        if (!r) return api.exit_code;
        for (const auto& e : (*r)["events"]) {
          std::printf("%s\n", e.dump().c_str());
          since = std::max<uint64_t>(since, e.value("seq", uint64_t{0}));
        }
        std::fflush(stdout);
        if (r->value("last_seq", uint64_t{0}) < since) since = r->value("last_seq", uint64_t{0});
      }
    }
    if (*leave) {
      auto r = api.Call("POST", "/v1/leave", json{{"force", leave_force}});
      if (!r) return api.exit_code;
      std::printf("left the overlay%s\n",
                  r->value("control_node_told", true) ? "" : " (locally; the control node was not told)");
      return 0;
    }
    if (*node_remove) {
      auto r = api.Call("DELETE", "/v1/nodes/" + remove_name);
      if (!r) return api.exit_code;
      std::printf("removed %s\n", remove_name.c_str());
      return 0;
    }
    if (*dns_register) {
      json body{{"name", dns_name}};
      if (!dns_name.empty() && dns_name[0] == '_') {
        const size_t colon = dns_value.rfind(':');
        int port = 0;
        if (colon == std::string::npos ||
            !(std::istringstream(dns_value.substr(colon + 1)) >> port) || port <= 0 ||
            port > 65535) {
          return Fail("a service name takes TARGET:PORT, e.g. web:8080", kExitUsage);
        }
        body["target"] = dns_value.substr(0, colon);
        body["port"] = port;
      } else {
        body["address"] = dns_value;
      }
      auto r = api.Call("POST", "/v1/names", body);
      if (!r) return api.exit_code;
      std::printf("registered %s\n", dns_name.c_str());
      return 0;
    }
    if (*dns_unregister) {
      auto r = api.Call("DELETE", "/v1/names/" + dns_name);
      if (!r) return api.exit_code;
      std::printf("unregistered %s\n", dns_name.c_str());
      return 0;
    }
    return Fail("no command given (see --help)", kExitUsage);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zlayer-overlay: fatal: %s\n", e.what());
    return 1;
  }
}
