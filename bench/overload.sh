#!/usr/bin/env bash
# Overload: one media worker driven past saturation while another room, the signaling and
# the room state are watched.
#
# A server with two media workers. Moim places a participant on the worker with the fewest
# participants when it arrives, whatever its media; moim-load's --interleave-idle (an idle
# participant after each one, joining one at a time) uses that to put a whole run on one
# worker. In order:
#   room B: a meeting of 3 (and 3 idle)    -> the members on worker 0, the idle on worker 1
#   room A: a meeting of 3                  -> workers 0, 1, 0
#   room A: a livestream, N viewers rendering 720p, each followed by an idle participant
#           -> the publisher and every viewer on worker 1, which is overloaded
# moim-load reports where each run's participants landed (the worker in the server's ICE
# ufrag). Phases: before (rooms A and B), during (the livestream's viewers in A), after
# (they left). In each, the script measures the workers' CPU and how long they waited for
# a core (their threads' stat and schedstat), the drops the server counts (/metrics) and
# the kernel's on the media port, the media rooms A and B receive, REST calls on both
# rooms, and a new participant joining each room (moim-load -n 1: until `joined`,
# connections up, first media, and the room as `joined` lists it; the one in room A lands
# on worker 1, the one in room B on worker 0). A recording of room A runs throughout.
# When the livestream has left, the server's gauges and rooms A and B as newcomers see
# them must be what their remaining participants hold; when everyone has left, nothing.
#
# --pin server (default): the server on core 0, the load testers on the other cores.
# --pin worker: worker 1 and the livestream's load tester on core 0, everything else on the
# other cores, so the overloaded worker shares no core with the rest of the server.
# --pin none: wherever the kernel puts them.
#
#   bench/overload.sh [--viewers 120] [--phase 30] [--join-rate 30] [--render-height 720]
#                     [--pin server|worker|none] [--no-build] [--out DIR]
#
# Exits non-zero when the state did not come back, room B's signaling failed (a REST call,
# a join, a client), or the server panicked or exited. MOIM_TARGET_DIR: the cargo target
# folder (default target/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
viewers=120
phase=30
join_rate=30
height=720
pin=server
build=1
out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --viewers) viewers="$2"; shift 2 ;;
    --phase) phase="$2"; shift 2 ;;
    --join-rate) join_rate="$2"; shift 2 ;;
    --render-height) height="$2"; shift 2 ;;
    --pin) pin="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $pin == server || $pin == worker || $pin == none ]] || { echo "--pin server|worker|none" >&2; exit 2; }
(($(nproc) >= 2)) || pin=none

cd "$root"
[[ $build == 1 ]] && cargo build --release -q -p moim -p moim-load
bin="${MOIM_TARGET_DIR:-$root/target}/release"
moim="$bin/moim"
load="$bin/moim-load"
dir="${out:-$(mktemp -d)}"
mkdir -p "$dir"
http=7994
udp=7996
url="http://127.0.0.1:$http"
room_a=overload-a
room_b=overload-b
members_a=3
members_b=3
others="1-$(($(nproc) - 1))"
server_cpu=()
tester_cpu=()
burst_cpu=()
case $pin in
server) server_cpu=(taskset -c 0) tester_cpu=(taskset -c "$others") burst_cpu=(taskset -c "$others") ;;
worker) server_cpu=(taskset -c "$others") tester_cpu=(taskset -c "$others") burst_cpu=(taskset -c 0) ;;
esac

MOIM_WORKERS=2 MOIM_EMPTY_ROOM_TIMEOUT=2 MOIM_LOG=warn,moim_media=info MOIM_RECORDINGS_DIR="$dir/recordings" \
    "${server_cpu[@]}" "$moim" serve --http-port $http --udp-port $udp >"$dir/server.log" 2>&1 &
server=$!
pids=()
cleanup() {
    kill $server "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    [[ -n $out ]] || rm -rf "$dir"
}
trap cleanup EXIT
until curl -sf "$url/healthz" >/dev/null; do sleep 0.1; done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
metric() { curl -sf -m 5 "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# wait_for METRIC VALUE SECONDS: until the gauge reads VALUE; false after SECONDS.
wait_for() {
    local end=$((SECONDS + $3))
    until [[ "$(metric "$1")" == "$2" ]]; do
        ((SECONDS < end)) || return 1
        sleep 0.2
    done
}
# The gauges that must come back: participants, sessions, tracks, rooms, state waiting.
gauges() {
    curl -sf -m 5 "$url/metrics" | awk '{ v[$1] = $2 } END {
        print v["moim_participants"], v["moim_sessions"], v["moim_tracks"], v["moim_rooms"], v["moim_state_waiting"] }'
}

[[ $(metric moim_media_workers) == 2 ]] || { echo "the server did not start two media workers" >&2; exit 1; }
if [[ $pin == worker ]]; then
    for task in /proc/$server/task/*; do
        if [[ $(<"$task/comm") == moim-media-1 ]]; then taskset -p -c 0 "${task##*/}" >/dev/null; fi
    done
fi
declare -A token room=([a]=$room_a [b]=$room_b)
for r in a b; do token[$r]=$("$moim" token --room "${room[$r]}" --identity admin --host); done

# Every server thread: name, CPU ticks, nanoseconds spent waiting for a core.
threads() {
    local task comm stat sched
    for task in /proc/$server/task/*; do
        { comm=$(tr ' ' _ <"$task/comm") && stat=$(<"$task/stat") && sched=$(<"$task/schedstat"); } 2>/dev/null ||
            continue
        echo "thread $comm $(echo "${stat##*) }" | awk '{ print $12 + $13 }') $(echo "$sched" | cut -d' ' -f2)"
    done
}
# The media port's sockets: inode, bytes waiting to be read (hex), datagrams the kernel
# dropped.
sockets() {
    cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v port="$(printf ':%04X' $udp)" '
        $2 ~ /:/ && substr($2, length($2) - 4) == port {
            split($5, q, ":"); print "socket", $10, q[2], $NF }'
}
# snap NAME: CPU time of every core and of the server's threads, the server's counters,
# the media port's sockets.
snap() {
    {
        echo "time $(now)"
        awk '/^cpu[0-9]+ / { print "core", $0 }' /proc/stat
        threads
        sockets || true
        curl -sf -m 5 "$url/metrics" | awk '!/^#/ { print "metric", $0 }' || true
    } >"$dir/snap.$1"
}
# Every second: the workers' CPU, the sockets' queues, the state waiting in queues.
watch() {
    local t
    while kill -0 $server 2>/dev/null; do
        t=$(now)
        { threads | grep ' moim-media-' || true; sockets || true; echo "waiting $(metric moim_state_waiting)"; } |
            sed "s/^/$t /" >>"$dir/watch"
        sleep 1
    done
}
watch &
pids+=($!)

# signaling PHASE SECONDS: once a second, the room API on both rooms (GET of the waiting
# room, a data message into room A) with curl's total time; 000 is no answer in 10 s.
signaling() {
    local end=$((SECONDS + $2)) r
    while ((SECONDS < end)); do
        for r in a b; do
            curl -s -m 10 -o /dev/null -w "get_$r %{http_code} %{time_total}\n" \
                -H "Authorization: Bearer ${token[$r]}" "$url/api/rooms/${room[$r]}/waiting" || true
        done
        curl -s -m 10 -o /dev/null -w "data_a %{http_code} %{time_total}\n" -X POST \
            -H "Authorization: Bearer ${token[a]}" -H 'Content-Type: application/json' \
            -d '{"payload": "tick", "topic": "overload"}' "$url/api/rooms/$room_a/data" || true
        sleep 1
    done >>"$dir/signaling.$1"
}

# joins PHASE: a new participant joins room A, another room B a second later (each
# publishing and subscribing for 6 s), measured by moim-load.
joins() {
    local r started=()
    for r in a b; do
        "${tester_cpu[@]}" "$load" --scenario meeting -n 1 --url "$url" --room "${room[$r]}" \
            --identity-prefix "join-$1-" --seconds 6 --json \
            >"$dir/join.$1.$r.json" 2>"$dir/join.$1.$r.log" &
        started+=($!)
        sleep 1
    done
    wait "${started[@]}" || true
}

# measure PHASE: the phase's snapshots around its signaling and joins.
measure() {
    snap "$1.start"
    signaling "$1" "$phase" &
    local sig=$!
    sleep 2
    joins "$1"
    wait $sig
    snap "$1.end"
}

# The livestream's joins go one at a time and may take longer than planned under load:
# it stays long enough for the during phase after joins twice as slow. Rooms A and B last
# through every phase: before, the livestream's joins, during, up to 30 s for the state to
# come back, after, with room to spare.
join_seconds=$(((2 * viewers + 2 + join_rate - 1) / join_rate))
slack=$((join_seconds + 10))
long=$((3 * phase + 3 * join_seconds + 90))
echo "phases of ${phase}s; ${viewers} viewers joining in ${join_seconds}s; rooms A and B stay ${long}s"

"${tester_cpu[@]}" "$load" --scenario meeting -n $members_b --url "$url" --room $room_b \
    --interleave-idle --seconds $long --json >"$dir/b.json" 2>"$dir/b.log" &
long_b=$!
pids+=($long_b)
wait_for moim_participants $((2 * members_b)) 15 || { echo "room B did not fill" >&2; exit 1; }
"${tester_cpu[@]}" "$load" --scenario meeting -n $members_a --url "$url" --room $room_a \
    --seconds $((long - 2)) --json >"$dir/a.json" 2>"$dir/a.log" &
long_a=$!
pids+=($long_a)
wait_for moim_participants $((2 * members_b + members_a)) 15 || { echo "room A did not fill" >&2; exit 1; }
sleep 6
recording=$(curl -sf -X POST -H "Authorization: Bearer ${token[a]}" -H 'Content-Type: application/json' \
    -d '{"kind": "track"}' "$url/api/rooms/$room_a/recordings" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' || true)

echo "before"
measure before

echo "during: ${viewers} viewers join room A"
start_burst=$(now)
"${burst_cpu[@]}" "$load" --scenario livestream -n "$viewers" --url "$url" --room $room_a \
    --identity-prefix live- --interleave-idle --join-rate "$join_rate" --render-height "$height" \
    --seconds $((phase + 4 + slack)) --json >"$dir/burst.json" 2>"$dir/burst.log" &
burst=$!
pids+=($burst)
wait_for moim_participants $((2 * members_b + members_a + 2 * viewers + 2)) $((2 * join_seconds + 8)) ||
    echo "not every participant of the livestream joined" >&2
sleep 4
measure during
wait $burst || true
end_burst=$(now)

# After the livestream: the participants of rooms A and B, their sessions and tracks (fewer
# if the server closed some while overloaded: the load tester does not reconnect), nothing
# waiting in a queue.
media=$((2 * (members_a + members_b)))
converged=""
for _ in $(seq 150); do
    if gauges | awk -v p=$((2 * members_b + members_a)) -v m=$media \
        '{ exit !($1 == p && $2 <= m && $3 <= m && $4 == 2 && $5 == 0) }'; then
        converged=$(since "$end_burst")
        break
    fi
    sleep 0.2
done
echo "after (participants, sessions, tracks, rooms, waiting: $(gauges))"
measure after

stop_started=$(now)
if [[ -n $recording ]]; then
    curl -sf -m 60 -o /dev/null -X DELETE -H "Authorization: Bearer ${token[a]}" \
        "$url/api/rooms/$room_a/recordings/$recording" || recording=""
fi
stop_took=$(since "$stop_started")
rm -rf "$dir/recordings"
echo "everyone leaves"
wait $long_a $long_b || true
left_at=$(now)
empty=""
for _ in $(seq 150); do
    if [[ "$(gauges)" == "0 0 0 0 0" ]]; then
        empty=$(since "$left_at")
        break
    fi
    sleep 0.2
done
kill -0 $server 2>/dev/null && server_alive=yes || server_alive=no
cat >"$dir/run.env" <<EOF
viewers=$viewers
height=$height
start_burst=$start_burst
end_burst=$end_burst
pin=$pin
converged=$converged
empty=$empty
left=$(gauges)
recording=$recording
stop_took=$stop_took
server_alive=$server_alive
members_a=$members_a
members_b=$members_b
load=$(uptime | sed 's/.*load average: //')
EOF

python3 - "$dir" <<'EOF'
import json, statistics, sys
from collections import defaultdict

d = sys.argv[1]
env = dict(l.rstrip("\n").split("=", 1) for l in open(f"{d}/run.env") if "=" in l)
phases = ["before", "during", "after"]
failed = []


def load(name):
    try:
        return json.load(open(f"{d}/{name}"))
    except (OSError, ValueError):
        return None


def read_snap(name):
    s = {"cores": {}, "cpu": defaultdict(float), "wait": defaultdict(float), "drops": 0, "metrics": {}}
    for line in open(f"{d}/snap.{name}"):
        f = line.split()
        if f[0] == "time":
            s["time"] = float(f[1])
        elif f[0] == "core":
            v = list(map(int, f[2:10]))
            s["cores"][f[1]] = (sum(v), v[3] + v[4])
        elif f[0] == "thread":
            s["cpu"][f[1]] += float(f[2])
            s["wait"][f[1]] += float(f[3])
        elif f[0] == "socket":
            s["drops"] += int(f[3])
        elif f[0] == "metric":
            s["metrics"][f[1]] = float(f[2])
    return s


# The per-second watch: worker CPU ticks by time, socket queues, state waiting.
watch = defaultdict(lambda: {"ticks": {}, "rxq": 0, "waiting": 0})
for line in open(f"{d}/watch"):
    f = line.split()
    w = watch[float(f[0])]
    if f[1] == "thread":
        w["ticks"][f[2]] = float(f[3])
    elif f[1] == "socket":
        w["rxq"] = max(w["rxq"], int(f[3], 16))
    elif f[1] == "waiting" and len(f) > 2:
        w["waiting"] = float(f[2])
times = sorted(watch)


def watched(t0, t1):
    ts = [t for t in times if t0 <= t <= t1]
    peak = defaultdict(float)
    for a, b in zip(ts, ts[1:]):
        for name, ticks in watch[b]["ticks"].items():
            if name in watch[a]["ticks"]:
                peak[name] = max(peak[name], (ticks - watch[a]["ticks"][name]) / (b - a))
    return {
        "peak": peak,
        "rxq": max((watch[t]["rxq"] for t in ts), default=0),
        "waiting": max((watch[t]["waiting"] for t in ts), default=0),
    }


def window(run, t0, t1):
    """Media a long run received between t0 and t1: pkt/s, loss, p50, p99, worst p99."""
    if not run:
        return None
    s = [x for x in run["samples"] if t0 <= run["start_unix"] + x["t"] - 0.5 <= t1]
    if not s:
        return None
    pkts = sum(x["packets_per_s"] for x in s)
    lost = sum(x["packets_per_s"] * x["loss_pct"] / max(100 - x["loss_pct"], 1e-9) for x in s)
    p50 = [x["p50_delay_ms"] for x in s if x["p50_delay_ms"] is not None]
    p99 = [x["p99_delay_ms"] for x in s if x["p99_delay_ms"] is not None]
    return {
        "pkt_s": pkts / len(s),
        "loss": 100 * lost / (pkts + lost) if pkts + lost else 0,
        "p50": statistics.median(p50) if p50 else None,
        "p99": statistics.median(p99) if p99 else None,
        "worst": max(p99) if p99 else None,
    }


runs = {"a": load("a.json"), "b": load("b.json")}
rows = []
for p in phases:
    s0, s1 = read_snap(f"{p}.start"), read_snap(f"{p}.end")
    dt = s1["time"] - s0["time"]
    r = {"phase": p, "seconds": dt}
    workers = sorted(t for t in s1["cpu"] if t.startswith("moim-media-"))
    # Clock ticks are hundredths of a second: ticks per second is % of a core.
    r["cpu"] = {t: (s1["cpu"][t] - s0["cpu"][t]) / dt for t in workers}
    r["wait"] = {t: (s1["wait"][t] - s0["wait"][t]) / 1e6 / dt for t in workers}
    total = sum(s1["cpu"].values()) - sum(s0["cpu"].values())
    r["rest"] = total / dt - sum(r["cpu"].values())
    r["cores"] = {
        c: 100 * (1 - (s1["cores"][c][1] - s0["cores"][c][1]) / max(s1["cores"][c][0] - s0["cores"][c][0], 1))
        for c in sorted(s1["cores"])
    }
    delta = lambda m: s1["metrics"].get(m, 0) - s0["metrics"].get(m, 0)
    r["drops"] = {
        "relays between workers": delta("moim_relays_dropped_total"),
        "recording frames": delta("moim_recording_frames_dropped_total"),
        "data messages": delta('moim_data_messages_total{outcome="dropped"}'),
        "data moved to signaling": delta('moim_data_messages_total{outcome="sent_on_signaling"}'),
        "send buffer full": delta('moim_datagrams_dropped_total{reason="send_buffer_full"}'),
        "kernel, media port": s1["drops"] - s0["drops"],
    }
    r["forwarded"] = delta("moim_frames_forwarded_total") / dt
    r["handed_over"] = delta("moim_datagrams_handed_over_total") / dt
    r["recorded"] = delta("moim_frames_recorded_total") / dt
    r["watch"] = watched(s0["time"], s1["time"])
    r["media"] = {k: window(runs[k], s0["time"], s1["time"]) for k in "ab"}
    sig = defaultdict(list)
    for line in open(f"{d}/signaling.{p}"):
        name, code, t = line.split()
        sig[name].append((code, float(t) * 1000))
    r["signaling"] = sig
    r["joins"] = {k: load(f"join.{p}.{k}.json") for k in "ab"}
    rows.append(r)


def ms(v):
    return "-" if v is None else f"{v:.0f}"


def placed(run):
    workers = (run or {}).get("summary", {}).get("workers", {})
    if list(workers.values()) == [1]:
        return f"worker {next(iter(workers))}"
    return ", ".join(f"{n} on worker {w}" for w, n in sorted(workers.items())) or "-"


def line(label, f):
    print(f"{label:40}" + "".join(f"{f(r):>22}" for r in rows))


where = {"server": "server on core 0, load testers on the others",
         "worker": "worker 1 and the livestream's load tester on core 0, the rest on the others",
         "none": "not pinned"}[env["pin"]]
print()
print(f"Overload: {env['viewers']} viewers at {env['height']}p in room A; phases of {rows[0]['seconds']:.0f} s; {where}")
print()
print(f"{'':40}" + "".join(f"{p:>22}" for p in phases))
for w in rows[0]["cpu"]:
    line(f"{w}: CPU %, mean / peak s", lambda r, w=w: f"{r['cpu'][w]:.0f} / {r['watch']['peak'][w]:.0f}")
    line(f"{w}: waited for a core, ms/s", lambda r, w=w: f"{r['wait'][w]:.0f}")
    line(f"{w}: running or waiting, %", lambda r, w=w: f"{r['cpu'][w] + r['wait'][w] / 10:.0f}")
line("CPU other server threads, %", lambda r: f"{r['rest']:.0f}")
line("cores busy, % (all processes)", lambda r: " ".join(f"{v:.0f}" for v in r["cores"].values()))
line("frames forwarded /s", lambda r: f"{r['forwarded']:.0f}")
line("datagrams handed over /s", lambda r: f"{r['handed_over']:.0f}")
line("frames recorded /s", lambda r: f"{r['recorded']:.0f}")
for k in rows[0]["drops"]:
    line(f"dropped: {k}", lambda r, k=k: f"{r['drops'][k]:.0f}")
line("media port receive queue, max KiB", lambda r: f"{r['watch']['rxq'] / 1024:.0f}")
line("state waiting in queues, max", lambda r: f"{r['watch']['waiting']:.0f}")
for k, name in (("a", "room A's meeting"), ("b", "room B")):
    m = lambda r, k=k: r["media"][k]
    line(f"{name}: pkt/s, loss %", lambda r: "-" if not m(r) else f"{m(r)['pkt_s']:.0f}, {m(r)['loss']:.2f}")
    line(f"{name}: delay p50 / p99 / worst p99", lambda r: "-" if not m(r) else f"{ms(m(r)['p50'])} / {ms(m(r)['p99'])} / {ms(m(r)['worst'])} ms")
for name, label in (("get_a", "GET room A"), ("get_b", "GET room B"), ("data_a", "POST data to room A")):
    def rest(r, name=name):
        v = r["signaling"].get(name, [])
        ok = [t for c, t in v if c in ("200", "204")]
        bad = len(v) - len(ok)
        return ("-" if not ok else f"{statistics.median(ok):.0f} / {max(ok):.0f} ms") + (f", {bad} failed" if bad else "")
    line(f"{label}: p50 / max", rest)


def join(r, k, what):
    j = r["joins"][k]
    v = j and j["summary"].get(what)
    return "-" if not v else f"{v['max']:.0f} ms"


for k in "ab":
    K = k.upper()
    line(f"new in room {K}: joined / connected", lambda r, k=k: f"{join(r, k, 'joined_ms')} / {join(r, k, 'connected_ms')}")
    line(f"new in room {K}: first media", lambda r, k=k: join(r, k, "first_media_ms"))
    line(f"new in room {K}: media worker", lambda r, k=k: placed(r["joins"][k]))
    line(f"new in room {K}: others, tracks listed",
         lambda r, k=k: "-" if not (r["joins"][k] and r["joins"][k]["summary"].get("room_at_join"))
         else "{participants}, {tracks}".format(**r["joins"][k]["summary"]["room_at_join"]))

burst = load("burst.json")
print()
if burst:
    s = burst["summary"]
    print(f"the livestream's viewers while overloaded: {s['subscribers_connected']} of {env['viewers']} connected, "
          f"{s['failures']} failures, {s['packets_per_s']:.0f} pkt/s, loss {s['loss_pct']:.2f} %, "
          f"delay p50 {ms(s['p50_delay_ms'])} / p99 {ms(s['p99_delay_ms'])} ms; load tester CPU {ms(s['tester_cpu_pct'])} %")
t0, t1, t2 = float(env["start_burst"]), float(env["end_burst"]), read_snap("after.end")["time"]
for k, name in (("b", "room B"), ("a", "room A's meeting")):
    w = window(runs[k], t0, t1)
    late = [x["t"] + runs[k]["start_unix"] - t1 for x in (runs[k] or {"samples": []})["samples"]
            if t1 < x["t"] + runs[k]["start_unix"] < t2 and (x["p99_delay_ms"] or 0) >= 50]
    if w:
        print(f"{name} from the livestream's first join to its leaving: loss {w['loss']:.2f} %, "
              f"delay p50 {ms(w['p50'])} / p99 {ms(w['p99'])} / worst p99 {ms(w['worst'])} ms; "
              + (f"p99 over 50 ms until {max(late):.0f} s after it left" if late else "p99 under 50 ms as soon as it left"))



print(f"media workers: room B's meeting {placed(runs['b'])}; room A's meeting {placed(runs['a'])}; "
      f"the livestream {placed(burst)}")

# Checks: the rooms as a newcomer finds them, room B's signaling, the gauges.
ma, mb, n = int(env["members_a"]), int(env["members_b"]), int(env["viewers"])
notes = []


def seen(r, k):
    j = r["joins"][k]
    v = j and j["summary"].get("room_at_join")
    return (v["participants"], v["tracks"]) if v else (None, None)


for r in rows:
    p = r["phase"]
    want = {"a": ma + (2 * n + 2 if p == "during" else 0), "b": 2 * mb}
    for k in "ab":
        people, tracks = seen(r, k)
        if people != want[k]:
            (notes if k == "a" and p == "during" else failed).append(
                f"{p}: a newcomer found {people} others in room {k.upper()}, expected {want[k]}")
        full = 2 * (ma if k == "a" else mb) + (2 if k == "a" and p == "during" else 0)
        if tracks is not None and tracks != full:
            (failed if p == "before" else notes).append(
                f"{p}: a newcomer found {tracks} tracks in room {k.upper()}, of {full} published")
    if p == "after":
        listed = sum(seen(r, k)[1] or 0 for k in "ab")
        counted = read_snap("after.start")["metrics"].get("moim_tracks", 0)
        if listed != counted:
            failed.append(f"after: rooms A and B list {listed} tracks, the media plane counts {counted:.0f}")
    j = r["joins"]["b"]
    if not j or j["summary"]["failures"] or not j["summary"].get("first_media_ms"):
        failed.append(f"{r['phase']}: the join into room B failed (join.{r['phase']}.b.log)")
    codes = [c for c, _ in r["signaling"].get("get_b", [])]
    if not codes or any(c != "200" for c in codes):
        failed.append(f"{r['phase']}: GET on room B answered {codes}")
if not runs["b"] or runs["b"]["summary"]["failures"]:
    failed.append("room B's clients failed (b.log)")
if not env["converged"]:
    failed.append("after the livestream left, participants, sessions, tracks, rooms or queued state did not come back")
closed = sum(1 for l in open(f"{d}/server.log") if "ICE disconnected; closing" in l)
if closed:
    notes.append(f"the server closed {closed} sessions as ICE-disconnected (the load tester does not reconnect)")
if not env["empty"]:
    failed.append(f"after everyone left the server still counts {env['left']} (participants, sessions, tracks, rooms, waiting)")
if env["server_alive"] != "yes":
    failed.append("the server exited")
panics = [l for l in open(f"{d}/server.log") if "panicked" in l]
if panics:
    failed.append("the server panicked: " + panics[0].strip())

during = rows[1]
hot = max(during["cpu"], key=lambda w: during["cpu"][w] - rows[0]["cpu"].get(w, 0))
drops = sum(v for k, v in during["drops"].items() if k != "data moved to signaling")
busy = during["cpu"][hot] + during["wait"][hot] / 10
print(f"overloaded: {hot} ran {during['cpu'][hot]:.0f} % and waited for a core {during['wait'][hot] / 10:.0f} % "
      f"of the time; {drops:.0f} media drops counted" + ("" if drops or busy > 95 else " (not overloaded: raise --viewers)"))
print(f"state back {env['converged']} s after the livestream left" if env["converged"] else "state did NOT come back")
print(f"recording of room A stopped in {env['stop_took']} s" if env["recording"] else "no recording")
print(f"nothing left {env['empty']} s after everyone left" if env["empty"] else "NOT empty after everyone left")
print(f"load average at the end: {env['load']}")
live = (burst or {}).get("summary", {}).get("workers", {})
if len(live) > 1:
    notes.append("the livestream's participants did not all land on one worker (a client that failed while "
                 "joining left, which shifts the placement of those after it)")
if len((runs["b"] or {}).get("summary", {}).get("workers", {})) > 1:
    notes.append("room B's members are on both workers")
for f in notes:
    print("note:", f)
for f in failed:
    print("FAILED:", f)
print("held" if not failed else "NOT held")
sys.exit(1 if failed else 0)
EOF
