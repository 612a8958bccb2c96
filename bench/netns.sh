#!/usr/bin/env bash
# The benchmark's network namespace: loopback addresses only, nothing that leads off the
# machine.
#
#   bench/netns.sh up      create it (idempotent) and print its name
#   bench/netns.sh down    remove it
#
# Why not plain `lo`: Janus never gathers ICE candidates on a loopback interface, and libnice
# pins each socket to the interface of its address (IP_UNICAST_IF), so a Janus candidate on
# an interface other than `lo` cannot send to 127.0.0.1 (EINVAL). The namespace therefore has
# `lo` plus one end of a veth pair, `bench0`, carrying 127.0.0.2 (Janus's candidate) and
# 127.0.0.3 (the load tester's sockets: `moim-load --local-ip 127.0.0.3`). Traffic between the
# two is delivered locally and never crosses the veth. Servers and the load tester run inside
# (`ip netns exec moim-bench ...`). Needs root. MOIM_BENCH_NETNS changes the name.
set -euo pipefail

ns="${MOIM_BENCH_NETNS:-moim-bench}"

case "${1:-}" in
up)
    if ! ip netns list | grep -qw "$ns"; then
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # A veth end is only "running" (which Janus requires) while its peer is up.
        ip -n "$ns" link add bench0 type veth peer name bench1
        ip -n "$ns" addr add 127.0.0.2/32 dev bench0
        ip -n "$ns" addr add 127.0.0.3/32 dev bench0
        ip -n "$ns" link set bench0 up
        ip -n "$ns" link set bench1 up
    fi
    echo "$ns"
    ;;
down)
    if ip netns list | grep -qw "$ns"; then
        ip netns del "$ns"
    fi
    ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
