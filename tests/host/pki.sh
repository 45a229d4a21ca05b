# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# tests/host/pki.sh: sourceable helper that makes a throw-away test PKI with
# the openssl CLI (ECDSA P-256 everywhere).
#
#   . "$(dirname "$0")/pki.sh"
#   pki_ca   DIR NAME                 DIR/NAME.pem, DIR/NAME.key (self-signed CA)
#   pki_leaf DIR CA NAME DNS [DNS..]  DIR/NAME.pem, DIR/NAME.key signed by DIR/CA,
#                                     SAN = the DNS names, EKU server+client auth
#
# Returns non-zero (with openssl's message on stderr) on failure.

pki_ca() {
	local dir=$1 name=$2
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.pem" -days 2 \
		-subj "/CN=katls test CA $name" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$dir/$name.err" ||
		{ cat "$dir/$name.err" >&2; return 1; }
}

pki_leaf() {
	local dir=$1 ca=$2 name=$3 san="" d
	shift 3
	for d in "$@"; do san="${san:+$san,}DNS:$d"; done
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$1" \
		2>"$dir/$name.err" || { cat "$dir/$name.err" >&2; return 1; }
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >"$dir/$name.ext"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" \
		-CAcreateserial -out "$dir/$name.pem" -days 2 -extfile "$dir/$name.ext" \
		2>"$dir/$name.err" || { cat "$dir/$name.err" >&2; return 1; }
}
