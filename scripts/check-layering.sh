#!/usr/bin/env bash
# The protocol core (src/wg) is sans-I/O: no OS header, socket, clock read or
# thread of its own (DESIGN.md §2). Since issue 11 it may be called from
# several threads, so it synchronises: atomics, and locks only through
# base/mutex.h (annotated for clang's -Wthread-safety). The include roots
# already stop a layer from including a layer it may not use; this catches
# what they cannot.
set -u
root=${1:-$(dirname "$0")/..}
bad=$(grep -nE '#include <(sys/|unistd\.h|fcntl\.h|netinet/|arpa/|linux/|mutex>|condition_variable>|future>)|::now\(\)|getrandom|std::thread|socket\(' \
  "$root"/src/wg/*.h "$root"/src/wg/*.cc 2>/dev/null | grep -vE '_(test|fuzz|bench)\.cc:')
if [ -n "$bad" ]; then
  echo "src/wg must not use OS headers, start threads, lock outside base/mutex.h, or use sockets or clocks:"
  echo "$bad"
  exit 1
fi
echo "layering: src/wg uses no OS header, socket, clock or thread of its own"
