#!/usr/bin/env bash
# Runs every fuzz target for a fixed time (coverage-guided, libFuzzer) and prints what each
# found. Usage: fuzz/run.sh [seconds per target, default 300] [target ...]
# Works on the stable toolchain: coverage comes from LLVM's sanitizer-coverage pass, which
# stable rustc exposes through -C passes / -C llvm-args. Findings are written to
# fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/<target>/ (both ignored by git).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(signal_decode token_verify datagram_demux sdp_offer matroska_blocks hls_requests)
fi
command -v c++ >/dev/null || { apt-get update -qq && apt-get install -y -qq g++; }

export RUSTFLAGS="--cfg fuzzing -C passes=sancov-module \
  -C llvm-args=-sanitizer-coverage-level=4 \
  -C llvm-args=-sanitizer-coverage-inline-8bit-counters \
  -C llvm-args=-sanitizer-coverage-pc-table \
  -C llvm-args=-sanitizer-coverage-trace-compares"
# With an explicit --target the flags reach only the fuzzed code, not build scripts.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --target "$host" --target-dir ../target/fuzz --bins

seed() {
  local dir=corpus/$1
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir")" ] && return
  case $1 in
    signal_decode)
      printf '%s' '{"type":"join","v":1,"token":"x","id":1}' >"$dir/join"
      printf '%s' '{"type":"chat","text":"hi","to":["a"]}' >"$dir/chat"
      printf '%s' '{"type":"board_stroke","stroke":{"id":"s","points":[[0.1,0.2]],"color":"#fff","width":2}}' >"$dir/board"
      printf '%s' '{"type":"offer","target":"publisher","sdp":"v=0","tracks":[{"mid":"0","source":"camera","muted":false}]}' >"$dir/offer" ;;
    token_verify)
      printf '%s' 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' >"$dir/jwt" ;;
    datagram_demux)
      printf '\x01\x00\x14\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl' >"$dir/stun" ;;
    sdp_offer)
      printf 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n' >"$dir/offer" ;;
    hls_requests)
      printf '%s' 'part3.4.m4s' >"$dir/part"
      printf '%s' 'seg12.m4s' >"$dir/segment" ;;
    matroska_blocks)
      printf '\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff\x1f\x43\xb6\x75\x01\xff\xff\xff\xff\xff\xff\xff\xe7\x81\x00\xa3\x85\x81\x00\x00\x80\x01' >"$dir/block" ;;
  esac
}

for target in "${targets[@]}"; do
  seed "$target"
  rm -rf "artifacts/$target" && mkdir -p "artifacts/$target"
  echo "== $target ($seconds s)"
  ../target/fuzz/"$host"/release/"$target" "corpus/$target" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" >"artifacts/$target.log" 2>&1 || true
  grep -E 'DONE|stat::number_of_executed_units|stat::peak_rss_mb' "artifacts/$target.log" || true
  grep -E -A3 'panicked|SUMMARY|memory allocation' "artifacts/$target.log" | head -8 || true
  echo "findings: $(ls "artifacts/$target" | wc -l)"
done
