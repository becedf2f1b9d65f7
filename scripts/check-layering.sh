#!/usr/bin/env bash
# The protocol core (src/wg) is sans-I/O: no OS header, socket, thread or clock
# read (DESIGN.md §2). The include roots already stop a layer from including a
# layer it may not use; this catches what they cannot.
set -u
root=${1:-$(dirname "$0")/..}
bad=$(grep -nE '#include <(sys/|unistd\.h|fcntl\.h|netinet/|arpa/|linux/|thread>|mutex>|condition_variable>|future>|atomic>)|::now\(\)|getrandom|std::thread|socket\(' \
  "$root"/src/wg/*.h "$root"/src/wg/*.cc 2>/dev/null | grep -vE '_(test|fuzz|bench)\.cc:')
if [ -n "$bad" ]; then
  echo "src/wg must not use OS headers, threads, sockets or clocks:"
  echo "$bad"
  exit 1
fi
echo "layering: src/wg is free of OS, thread and clock use"
