#pragma once
// Readiness for systemd (sd_notify(3)), for a `Type=notify` unit that runs
// `zlayer-wg -f IFNAME` (or WG_PROCESS_FOREGROUND=1). Without NOTIFY_SOCKET
// these do nothing. zlayer-wg notifies only in the foreground: a daemonising
// start is not the process such a unit watches (use Type=forking, or
// better -f with Type=notify).
//
// Thread safety: any thread; messages are single datagrams.

#include <string_view>

namespace zl::wgtool {

// "READY=1" with STATUS=`status` (one line): the TUN and the UAPI socket are
// up.
void NotifyReady(std::string_view status);
// "STOPPING=1": shutdown has begun.
void NotifyStopping();

}  // namespace zl::wgtool
