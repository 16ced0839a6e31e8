#!/usr/bin/env bash
# Makes a throw-away certificate authority, a server certificate (for localhost,
# 127.0.0.1 and any extra DNS names given), a client certificate, and a certificate for the
# rollout workers' weight relays (DNS:maskgrpo-rollout-worker only: relays are reached at pod
# IPs, and workers check that name with relay_client_tls.server_name), for trying TLS and
# mutual TLS on a laptop or in the tests. Not for production: use your cluster's CA.
#   bash scripts/make_dev_certs.sh OUT_DIR [DNS_NAME ...]
# Writes OUT_DIR/{ca.pem, server.pem, server.key, client.pem, client.key, relay.pem, relay.key}.
set -euo pipefail
OUT=${1:?usage: make_dev_certs.sh OUT_DIR [DNS_NAME ...]}
shift
mkdir -p "$OUT"
cd "$OUT"
SAN="subjectAltName=DNS:localhost,IP:127.0.0.1"
for name in "$@"; do SAN="$SAN,DNS:$name"; done
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=maskgrpo dev CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
printf '%s\n' "$SAN" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 \
  -extfile server.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=maskgrpo worker" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout relay.key -out relay.csr -subj "/CN=maskgrpo-rollout-worker" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:maskgrpo-rollout-worker" > relay.ext
openssl x509 -req -in relay.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out relay.pem -days 30 \
  -extfile relay.ext 2>/dev/null
rm -f server.csr client.csr relay.csr server.ext relay.ext ca.srl ca.key
chmod 600 server.key client.key relay.key
echo "make_dev_certs: ca.pem server.pem server.key client.pem client.key relay.pem relay.key in $(pwd)"
