#!/usr/bin/env bash
# Runs the README's run command exactly as written, as a newcomer would, and checks that
# the server answers /healthz, that its banner links a meeting that loads, and that its
# log, written to a pipe, carries no colour codes.
set -euo pipefail
cd "$(dirname "$0")/.."

command=$(awk '/^## Run it/{f=1} f&&/^```sh/{g=1;next} g&&/^```/{exit} g{print}' README.md | grep -v '^#' | head -1)
[ -n "$command" ] || { echo "README.md has no command under '## Run it'"; exit 1; }
echo "== README run command: $command"

log=$(mktemp)
setsid bash -c "$command" >"$log" 2>&1 &
pid=$!
stop() { kill -TERM -- -"$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap 'stop; rm -f "$log"' EXIT

url=""
for _ in $(seq 1 600); do
  url=$(grep -o 'http://localhost:[0-9]*/r/[^ ?]*?host=1' "$log" | head -1 || true)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "the server exited"; exit 1; }
  sleep 1
done
[ -n "$url" ] || { cat "$log"; echo "no meeting link in the banner"; exit 1; }
base=${url%%/r/*}
curl -fsS "$base/healthz" | grep -qx ok || { echo "/healthz did not answer ok"; exit 1; }
curl -fsS "$url" | grep -q '<main id="app">' || { echo "the meeting link $url did not load the app"; exit 1; }
if grep -q $'\e\\[' "$log"; then
  echo "the log written to a pipe carries colour codes:"; cat -v "$log" | head -5; exit 1
fi
echo "== $command: healthy; the banner links $url"
