#!/usr/bin/env bash
# Starts or stops the busy host of issue 31: a process in its own network
# namespace (ho-busy) making 500 connect attempts a second to 198.19.254.0/24,
# routed out of a veth pair whose other end forwards nothing (every SYN leaves,
# nothing answers), for the whole test run. `.ci/run` starts it before `npm test` and stops it after.
#   test/support/busy-host.sh start [RATE] | stop
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pidfile=/run/halfopen-busy-host.pid
case "${1:-}" in
  start)
    "$0" stop >/dev/null 2>&1 || true
    ip netns add ho-busy
    ip -n ho-busy link set lo up
    ip -n ho-busy link add busy0 type veth peer name busy1
    ip -n ho-busy link set busy0 up
    ip -n ho-busy link set busy1 up
    ip -n ho-busy addr add 198.19.253.1/30 dev busy0
    # A gateway nobody is, with a fixed link-layer address: no ARP, the SYNs go out and are dropped (no forwarding).
    ip -n ho-busy neigh add 198.19.253.2 lladdr 02:00:00:00:00:02 dev busy0 nud permanent
    ip -n ho-busy route add 198.19.254.0/24 via 198.19.253.2 dev busy0
    setsid ip netns exec ho-busy python3 "$here/busy-host.py" --rate "${2:-500}" </dev/null >/dev/null 2>&1 &
    echo $! > "$pidfile"
    echo "busy host: 500 connects/s from netns ho-busy (pid $(cat "$pidfile"))"
    ;;
  stop)
    if [ -f "$pidfile" ]; then kill -- -"$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
    pkill -f "$here/busy-host.py" 2>/dev/null || true
    ip netns del ho-busy 2>/dev/null || true
    ;;
  *) echo "usage: $0 start [RATE] | stop" >&2; exit 2 ;;
esac
