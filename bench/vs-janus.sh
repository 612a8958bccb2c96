#!/usr/bin/env bash
# Moim and Janus side by side: the same moim-load scenario against each server in turn, the
# server pinned to core 0 and the load tester to core 1, on loopback addresses in the network
# namespace of bench/netns.sh. Prints, per client count and server, the server's CPU-seconds
# per million packets the subscribers received, packets/s, loss, p99 delay, peak RSS, the
# Moim/Janus ratios, and the largest client count each server carries with < 1 % loss and
# p99 < 50 ms (and every subscriber connected, no client failing). The delay counts to the
# datagram's arrival at the load tester's socket (its kernel timestamp); the tester's own CPU
# and its lag after that arrival (p99) are shown too: near 100 % CPU it, not the server, is
# the limit.
#
#   bench/vs-janus.sh [--scenario livestream|meeting|audio-room] [--clients "50 100 200"]
#                     [--seconds 30] [--render-height 360] [--join-rate 20] [--rounds 1]
#                     [--no-build] [--out DIR]
#
# The same settings can come from BENCH_SCENARIO, BENCH_CLIENTS, BENCH_SECONDS,
# BENCH_RENDER_HEIGHT, BENCH_JOIN_RATE, BENCH_ROUNDS. With --rounds K every pair of runs is
# repeated K times (alternating servers) and the medians are reported. Every run starts a
# fresh server, so peak RSS belongs to that run. Raw JSON and logs go to --out (default
# target/bench/vs-janus-<time>). Needs root (network namespace, apt-get).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bench="$root/bench"

scenario="${BENCH_SCENARIO:-livestream}"
clients="${BENCH_CLIENTS:-50 100 200}"
seconds="${BENCH_SECONDS:-30}"
height="${BENCH_RENDER_HEIGHT:-360}"
join_rate="${BENCH_JOIN_RATE:-20}"
rounds="${BENCH_ROUNDS:-1}"
build=1
out=""

while [[ $# -gt 0 ]]; do
    case "$1" in
    --scenario) scenario="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --render-height) height="$2"; shift 2 ;;
    --join-rate) join_rate="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [[ $(id -u) -ne 0 ]]; then
    echo "run as root: the benchmark uses a network namespace" >&2
    exit 1
fi

missing=()
command -v janus >/dev/null || missing+=(janus)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v python3 >/dev/null || missing+=(python3)
command -v taskset >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || missing+=(iproute2)
if [[ ${#missing[@]} -gt 0 ]]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

cd "$root"
if [[ $build -eq 1 ]]; then
    cargo build --release -p moim -p moim-load
fi
moim="$root/target/release/moim"
load="$root/target/release/moim-load"

ns="$("$bench/netns.sh" up)"
out="${out:-$root/target/bench/vs-janus-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    "$bench/janus.sh" stop
}
trap stop_server EXIT

wait_http() {
    local url="$1"
    for _ in $(seq 100); do
        if ip netns exec "$ns" python3 -c "import urllib.request; urllib.request.urlopen('$url', timeout=1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "no answer from $url" >&2
    return 1
}

# Starts a server on core 0 and sets server_pid.
start_server() {
    case "$1" in
    moim)
        # `ip netns exec` replaces itself with its command, so $! is the server's pid. One
        # media worker, as Janus runs one event loop: both get one core.
        MOIM_LOG=warn MOIM_WORKERS=1 taskset -c 0 ip netns exec "$ns" "$moim" serve \
            </dev/null >"$2.server.log" 2>&1 &
        server_pid=$!
        wait_http http://127.0.0.1:7880/healthz
        ;;
    janus)
        server_pid="$(JANUS_CPUS=0 JANUS_LOG="$2.server.log" "$bench/janus.sh" start)"
        ;;
    esac
}

for round in $(seq "$rounds"); do
    for n in $clients; do
        for target in moim janus; do
            run="$out/$target-$n-$round"
            echo "== $target, $scenario, $n clients, round $round" >&2
            start_server "$target" "$run"
            taskset -c 1 ip netns exec "$ns" "$load" --target "$target" --scenario "$scenario" \
                -n "$n" --seconds "$seconds" --render-height "$height" --join-rate "$join_rate" \
                --local-ip 127.0.0.3 --server-pid "$server_pid" --json \
                >"$run.json" 2>"$run.log" || echo "moim-load failed, see $run.log" >&2
            tail -n 16 "$run.log" | grep -E 'connected|received|loss|delay|CPU / Mpkt' >&2 || true
            if [[ "$target" == moim ]]; then
                kill "$server_pid"
                wait "$server_pid" 2>/dev/null || true
                server_pid=""
            else
                "$bench/janus.sh" stop
                server_pid=""
            fi
        done
    done
done

python3 - "$out" "$scenario" "$clients" "$seconds" "$height" "$rounds" <<'EOF' | tee "$out/summary.txt"
import json, statistics, sys

out, scenario, clients, seconds, height, rounds = sys.argv[1:]
ns = [int(n) for n in clients.split()]
rounds = int(rounds)
servers = ["moim", "janus"]
metrics = ["subscribers_connected", "failures", "packets_per_s", "loss_pct", "p99_delay_ms",
           "server_cpu_s", "server_cpu_s_per_mpkt", "server_peak_rss_mib", "seconds",
           "tester_cpu_pct", "p99_lag_ms"]


def expected_subscribers(n):
    return n + 10 if scenario == "audio-room" else n


def load(server, n):
    """Median of every metric over the rounds; None where a run has no value."""
    runs = []
    for r in range(1, rounds + 1):
        try:
            with open(f"{out}/{server}-{n}-{r}.json") as f:
                runs.append(json.load(f)["summary"])
        except (OSError, ValueError, KeyError):
            pass
    if not runs:
        return None
    result = {}
    for m in metrics:
        values = [s[m] for s in runs if s.get(m) is not None]
        result[m] = statistics.median(values) if values else None
    result["failures"] = max(s["failures"] for s in runs)
    result["subscribers_connected"] = min(s["subscribers_connected"] for s in runs)
    return result


def passes(s, n):
    return (s is not None and s["failures"] == 0
            and s["subscribers_connected"] >= expected_subscribers(n)
            and s["loss_pct"] is not None and s["loss_pct"] < 1.0
            and s["p99_delay_ms"] is not None and s["p99_delay_ms"] < 50.0)


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return "-" if a is None or b in (None, 0) else f"{a / b:.2f}x"


print(f"\n{scenario}, render height {height}, {seconds} s measured per run, "
      f"{rounds} round(s), server on core 0, moim-load on core 1\n")
print(f"{'N':>5}  {'server':<11} {'subs':>5} {'fail':>4} {'pkt/s':>9} {'loss %':>7} "
      f"{'p99 ms':>6} {'CPU %':>6} {'CPU-s/Mpkt':>10} {'RSS MiB':>8} {'tester %':>8} "
      f"{'lag p99':>7}")
results = {}
for n in ns:
    for server in servers:
        s = load(server, n)
        results[(server, n)] = s
        if s is None:
            print(f"{n:>5}  {server:<11} (no result)")
            continue
        cpu_pct = (None if s["server_cpu_s"] is None or not s["seconds"]
                   else s["server_cpu_s"] / s["seconds"] * 100)
        print(f"{n:>5}  {server:<11} {s['subscribers_connected']:>5.0f} {s['failures']:>4} "
              f"{fmt(s['packets_per_s'], '9.0f')} {fmt(s['loss_pct'], '7.3f')} "
              f"{fmt(s['p99_delay_ms'], '6.0f')} {fmt(cpu_pct, '6.1f')} "
              f"{fmt(s['server_cpu_s_per_mpkt'], '10.2f')} {fmt(s['server_peak_rss_mib'], '8.1f')} "
              f"{fmt(s['tester_cpu_pct'], '8.0f')} {fmt(s['p99_lag_ms'], '7.0f')}")
    m, j = results[("moim", n)], results[("janus", n)]
    if m and j:
        print(f"{'':>5}  {'moim/janus':<11} {'':>5} {'':>4} "
              f"{ratio(m['packets_per_s'], j['packets_per_s']):>9} {'':>7} "
              f"{ratio(m['p99_delay_ms'], j['p99_delay_ms']):>6} {'':>6} "
              f"{ratio(m['server_cpu_s_per_mpkt'], j['server_cpu_s_per_mpkt']):>10} "
              f"{ratio(m['server_peak_rss_mib'], j['server_peak_rss_mib']):>8}")

print("\nlargest N with < 1 % loss, p99 < 50 ms, every subscriber connected, no failures:")
for server in servers:
    ok = [n for n in ns if passes(results[(server, n)], n)]
    print(f"  {server:<6} {max(ok) if ok else 'none'} (of {clients})")
print(f"\nraw results: {out}")
EOF
