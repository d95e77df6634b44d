#!/bin/sh
# Makes the certificates the tests use, in DIR (nothing secret is committed):
#   ca.crt               a test CA (its key is thrown away)
#   server.crt, .key     RSA-2048 for localhost, 127.0.0.1 and ::1, signed by
#                        the CA; server.crt holds the chain (leaf, then CA), so
#                        a client given server.crt as its trust file verifies
#   other.key            a key that matches nothing (the mismatch test)
# Usage: scripts/make-test-certs.sh DIR
set -eu
dir=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=3650
openssl req -x509 -newkey rsa:2048 -nodes -days $days -subj "/CN=berth test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
cat > "$tmp/ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days $days -extfile "$tmp/ext" -out "$tmp/leaf.crt" 2>/dev/null
openssl genrsa -out "$tmp/other.key" 2048 2>/dev/null
cat "$tmp/leaf.crt" "$tmp/ca.crt" > "$tmp/server.crt"
chmod 644 "$tmp/server.key" "$tmp/other.key" # nginx's master reads it in bench/run.py
for f in ca.crt server.crt server.key other.key; do
    mv "$tmp/$f" "$dir/$f"
done
