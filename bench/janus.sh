#!/usr/bin/env bash
# A loopback-only Janus for benchmarks: the videoroom plugin and the HTTP API on
# 127.0.0.1:8088, configured by bench/janus/, inside the network namespace of bench/netns.sh.
#
#   bench/janus.sh start   start it in the background, wait for its API, print its pid
#   bench/janus.sh stop    stop it
#
# Clients must run in the same namespace, e.g.
#   ip netns exec moim-bench target/release/moim-load --target janus -n 10
# JANUS_CPUS pins it (taskset -c, e.g. JANUS_CPUS=0); JANUS_LOG is its log file
# (default /tmp/moim-bench-janus.log). Needs root (network namespaces).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ns="${MOIM_BENCH_NETNS:-moim-bench}"
pidfile="${JANUS_PIDFILE:-/tmp/moim-bench-janus.pid}"
log="${JANUS_LOG:-/tmp/moim-bench-janus.log}"

running() {
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

api_up() {
    ip netns exec "$ns" python3 -c '
import sys, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:8088/janus/info", timeout=1).read()
except Exception:
    sys.exit(1)
'
}

case "${1:-}" in
start)
    if running; then
        echo "Janus is already running (pid $(cat "$pidfile")); stop it first: $0 stop" >&2
        exit 1
    fi
    command -v janus >/dev/null || { echo "janus is not installed: apt-get install janus" >&2; exit 1; }
    "$here/netns.sh" up >/dev/null
    pin=()
    if [[ -n "${JANUS_CPUS:-}" ]]; then
        pin=(taskset -c "$JANUS_CPUS")
    fi
    # `ip netns exec` replaces itself with its command, so $! is Janus's pid.
    "${pin[@]}" ip netns exec "$ns" janus --configs-folder "$here/janus" \
        --disable-colors --log-file "$log" --disable-stdout </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    for _ in $(seq 100); do
        if api_up; then
            echo "$pid"
            exit 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "Janus exited at startup; see $log" >&2
            rm -f "$pidfile"
            exit 1
        fi
        sleep 0.1
    done
    echo "Janus did not answer on http://127.0.0.1:8088/janus/info within 10 s; see $log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    exit 1
    ;;
stop)
    if running; then
        pid="$(cat "$pidfile")"
        kill "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid"
        fi
    fi
    rm -f "$pidfile"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
