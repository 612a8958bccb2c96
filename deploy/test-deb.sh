#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine (root), runs the installed
# binary as the systemd unit would (its user, working directory and command; under systemd
# itself where it runs), checks that it serves, then purges the package.
#   bash deploy/test-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

deb=$(bash deploy/deb.sh)
unit=/lib/systemd/system/moim.service
fail() { echo "deploy/test-deb.sh: $*" >&2; exit 1; }

dpkg -i "$deb" >/dev/null
trap 'dpkg --purge moim >/dev/null 2>&1 || true' EXIT

getent passwd moim >/dev/null || fail "the package made no moim user"
[ -f "$unit" ] || fail "no unit at $unit"
config=/etc/moim/moim.toml
[ "$(stat -c '%U:%G %a' "$config")" = "root:moim 640" ] || fail "$config is $(stat -c '%U:%G %a' "$config"), not root:moim 640"
grep -Eq '^api_secret = "[0-9a-f]{64}"$' "$config" || fail "$config has no secret of its own"

# The unit's own settings.
setting() { sed -n "s/^$1=//p" "$unit"; }
user=$(setting User)
dir=$(setting WorkingDirectory)
read -r -a command <<<"$(setting ExecStart)"
[ "${command[0]}" = /usr/bin/moim ] || fail "ExecStart runs ${command[0]}"

# Free ports instead of the configuration's, so that nothing else on this machine is in
# the way; everything else comes from /etc/moim/moim.toml.
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log=$(mktemp)
cd "$dir"
MOIM_HTTP_ADDR="127.0.0.1:$port" MOIM_UDP_ADDR=127.0.0.1:0 MOIM_TCP_ADDR=127.0.0.1:0 \
  MOIM_RTMP_ADDR=127.0.0.1:0 MOIM_TURN=0 \
  runuser -u "$user" -- "${command[@]}" >"$log" 2>&1 &
server=$!
cd - >/dev/null
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; fail "the installed server exited"; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$log" >&2; fail "no /healthz"; }
moim=$(pgrep -n -f '^/usr/bin/moim serve --config /etc/moim/moim.toml')
runs_as=$(ps -o user= -p "$moim")
[ "$runs_as" = "$user" ] || fail "the server runs as $runs_as, not $user"
# Not development mode: a token from the development keys is refused.
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/rooms/r/transcript" \
  -H "Authorization: Bearer $(target/release/moim token --room r --identity i --host)")
[ "$status" = 401 ] || fail "a development token got $status from the installed server"
# As systemd stops it: SIGTERM to the server, which drains and exits.
kill -TERM "$moim"
wait "$server" || { cat "$log" >&2; fail "the server did not stop cleanly on SIGTERM"; }

if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
  systemd-analyze verify "$unit"
fi
dpkg --purge moim >/dev/null
getent passwd moim >/dev/null && fail "purging left the moim user"
[ -e "$config" ] && fail "purging left $config"
echo "the package installs, serves as $user under the unit's settings, and purges"
