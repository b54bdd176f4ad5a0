#!/usr/bin/env bash
# A local CometBFT v0.38 testnet on loopback with the built-in kvstore app,
# for trying `cometnet` against the real thing by hand. The Rust tests
# (interop/tests/cometbft_*.rs) do the same steps through interop/src/cmtnet.rs.
#
#   bash interop/testnet.sh [--dir DIR] [--validators N] [--ip 127.77.0] [--port P]
#                           [--rpc-port R] [--duration SECS] [--cometbft PATH]
#
# Node i listens on 127.77.0.(i+2):P (P2P) and :R (RPC), moniker goval<i>,
# blocks every ~0.5 s. Stops every node it started on exit (Ctrl-C, --duration,
# or an error). Logs: DIR/node<i>.log. Then, e.g.:
#   cometnet node init --home /tmp/ours --laddr tcp://127.77.0.10:26656 --network <chain ID>
#   sed -i 's/^addr_book_strict = true/addr_book_strict = false/; s/^allow_duplicate_ip = false/allow_duplicate_ip = true/' /tmp/ours/config/config.toml
#   cometnet node start --home /tmp/ours --persistent-peers <id@127.77.0.2:P printed below>
#   curl -s 127.77.0.2:R/net_info
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

dir=/tmp/cometbft-testnet
validators=4
ip=127.77.0
port=26656
rpc_port=26657
duration=
cometbft=${COMETNET_COMETBFT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --validators) validators=$2; shift 2 ;;
    --ip) ip=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --rpc-port) rpc_port=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --cometbft) cometbft=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$cometbft" ]; then
  # The binary interop/run builds (same cache key), built here if missing.
  cache=${COMETNET_INTEROP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cometnet-interop}
  key=$(cat "$root/interop/go/go.sum" "$root/interop/go/go.mod" | sha256sum | cut -c1-16)
  cometbft="$cache/$key/cometbft"
  if [ ! -x "$cometbft" ]; then
    command -v go >/dev/null || { echo "error: no cometbft binary and no Go toolchain" >&2; exit 1; }
    mkdir -p "$cache/$key"
    (cd "$root/interop/go" && go build -o "$cometbft.tmp" github.com/cometbft/cometbft/cmd/cometbft)
    mv "$cometbft.tmp" "$cometbft"
  fi
fi

# set_key FILE SECTION KEY VALUE: replace KEY's line in [SECTION] ("" = top level).
set_key() {
  awk -v sec="$2" -v key="$3" -v val="$4" '
    /^\[.*\]$/ { cur = substr($0, 2, length($0) - 2) }
    cur == sec && $1 == key && $2 == "=" { print key " = " val; done = 1; next }
    { print }
    END { if (!done) { print "set_key: no " key " in [" sec "]" > "/dev/stderr"; exit 1 } }
  ' "$1" > "$1.new" && mv "$1.new" "$1"
}

rm -rf "$dir"
"$cometbft" testnet --v "$validators" --o "$dir" --starting-ip-address "$ip.2" --p2p-port "$port" >/dev/null
chain=$(sed -n 's/.*"chain_id": *"\([^"]*\)".*/\1/p' "$dir/node0/config/genesis.json")

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((i = 0; i < validators; i++)); do
  h="$dir/node$i"; a="$ip.$((i + 2))"; c="$h/config/config.toml"
  set_key "$c" "" moniker "\"goval$i\""
  set_key "$c" "" proxy_app '"kvstore"'
  set_key "$c" rpc laddr "\"tcp://$a:$rpc_port\""
  set_key "$c" p2p laddr "\"tcp://$a:$port\""
  set_key "$c" p2p addr_book_strict false
  # Go dials from 127.0.0.1 whatever the target: every peer shares one IP.
  set_key "$c" p2p allow_duplicate_ip true
  set_key "$c" consensus timeout_commit '"500ms"'
  "$cometbft" start --home "$h" >"$dir/node$i.log" 2>&1 &
  pids+=($!)
done

echo "chain ID: $chain"
for ((i = 0; i < validators; i++)); do
  a="$ip.$((i + 2))"
  for _ in $(seq 120); do
    hgt=$(curl -s --max-time 1 "http://$a:$rpc_port/status" | sed -n 's/.*"latest_block_height":"\([0-9]*\)".*/\1/p' || true)
    [ -n "$hgt" ] && [ "$hgt" -ge 2 ] && break
    sleep 0.5
  done
  [ -n "${hgt:-}" ] && [ "$hgt" -ge 2 ] || { echo "error: goval$i made no blocks; see $dir/node$i.log" >&2; exit 1; }
  echo "goval$i  $("$cometbft" show-node-id --home "$dir/node$i")@$a:$port  rpc http://$a:$rpc_port  height $hgt"
done

if [ -n "$duration" ]; then
  echo "running for ${duration}s"
  sleep "$duration"
else
  echo "running; Ctrl-C stops every node"
  wait
fi
