#!/usr/bin/env bash
# A store-hub demo in one command: a throw-away PostgreSQL (pg_virtualenv, from Debian's
# postgresql-common), a hub on 127.0.0.1:8092 with its database migrated, terminal T01
# enrolled, and a config for a demo terminal (embedded sandbox) that dials the hub.
#
#   packaging/hub-demo.sh [DIR]      # DIR holds the configs and data (default ./hub-demo)
#
# Then, in another shell, take a payment that the hub settles:
#   alipay-pos --config DIR/terminal.toml pay 4.20 --simulate-customer 3
# Ctrl-C stops the hub; pg_virtualenv then drops the database. ALIPAY_POS names the binary
# (default: alipay-pos on PATH).
set -euo pipefail
bin=${ALIPAY_POS:-alipay-pos}
dir=${1:-./hub-demo}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
sandbox="$dir/terminal-data/sandbox"

# The demo terminal's embedded sandbox plays Alipay and signs notifications with
# sandbox/alipay_private_key.pem; the hub verifies them with its public half. A fresh pair,
# made once, so both sides know it before either starts.
if [ ! -f "$sandbox/alipay_public_key.pem" ]; then
  keys="$dir/.keys"
  "$bin" keys generate --out "$keys" >/dev/null
  mkdir -p "$sandbox"
  chmod 700 "$dir/terminal-data" "$sandbox"
  mv "$keys/merchant_private_key.pem" "$sandbox/alipay_private_key.pem"
  mv "$keys/merchant_public_key.pem" "$sandbox/alipay_public_key.pem"
  rmdir "$keys"
fi

cat >"$dir/hub.toml" <<TOML
[alipay]
alipay_public_key = "terminal-data/sandbox/alipay_public_key.pem"

[hub]
listen = "127.0.0.1:8092"
public_url = "http://127.0.0.1:8092"
TOML

cat >"$dir/terminal.toml" <<TOML
[storage]
data_dir = "terminal-data"

[hub]
url = "http://127.0.0.1:8092"
token_file = "terminal.token"
TOML

export ALIPAY_POS_BIN="$bin" HUB_DEMO_DIR="$dir"
exec pg_virtualenv sh -c '
  export DATABASE_URL="postgres://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE"
  "$ALIPAY_POS_BIN" --config "$HUB_DEMO_DIR/hub.toml" hub terminals add T01 | tail -n 1 >"$HUB_DEMO_DIR/terminal.token"
  chmod 600 "$HUB_DEMO_DIR/terminal.token"
  echo "terminal T01 enrolled; its token is in $HUB_DEMO_DIR/terminal.token" >&2
  exec "$ALIPAY_POS_BIN" --config "$HUB_DEMO_DIR/hub.toml" hub
'
