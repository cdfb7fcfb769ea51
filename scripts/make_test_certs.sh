#!/bin/sh
# Regenerates the throwaway TLS material the tests use (testdata/tls/):
#   ca.pem             a self-signed test CA (10 years)
#   server.pem         a certificate for localhost / 127.0.0.1 / ::1 signed by it
#   server-key.pem     the server's private key
# The CA key is discarded: nothing else can ever be signed with it.
#
# These files are for loopback tests only. Never trust ca.pem anywhere else.
#
# Usage: scripts/make_test_certs.sh [OUT_DIR]   (default: testdata/tls)
set -eu

out=${1:-"$(dirname "$0")/../testdata/tls"}
command -v openssl >/dev/null 2>&1 || {
  echo "make_test_certs.sh: openssl is required (apt-get install openssl)" >&2
  exit 1
}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

days=3650

# The CA: EC P-256 keeps the files small.
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" -days "$days" \
  -subj "/CN=socklab test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# The server key (PKCS#8) and a request for it.
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -keyout "$work/server-key.pem" -out "$work/server.csr" \
  -subj "/CN=localhost" 2>/dev/null

cat >"$work/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOF

openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" \
  -CAkey "$work/ca-key.pem" -CAcreateserial -out "$work/server.pem" \
  -days "$days" -sha256 -extfile "$work/server.ext" 2>/dev/null

openssl verify -CAfile "$work/ca.pem" "$work/server.pem" >/dev/null

cp "$work/ca.pem" "$out/ca.pem"
cp "$work/server.pem" "$out/server.pem"
cp "$work/server-key.pem" "$out/server-key.pem"
echo "wrote $out/ca.pem, $out/server.pem, $out/server-key.pem"
