#!/usr/bin/env bash
# Writes a test CA and certificates it signs into DIR (made by the TLS tests, never
# committed): ca.pem; localhost.pem/.key (DNS:localhost, IP:127.0.0.1); other.pem/.key
# (DNS:other.test, for SNI and for "a certificate for another name"); self.pem/.key
# (self-signed localhost, trusted by nobody).
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
key="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $key -keyout ca.key -out ca.pem -days 2 -subj /CN=sluice-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
leaf() { # name CN SAN
  openssl req -x509 $key -keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
    -CA ca.pem -CAkey ca.key -addext "subjectAltName=$3" \
    -addext basicConstraints=CA:FALSE 2>/dev/null
}
leaf localhost localhost "DNS:localhost,IP:127.0.0.1"
leaf other other.test "DNS:other.test"
openssl req -x509 $key -keyout self.key -out self.pem -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
