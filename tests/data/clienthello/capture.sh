#!/bin/bash
# capture.sh: capture the ClientHellos that real TLS clients send, as test
# data for common/sni.c (tests/unit/test_sni.c, tests/fuzz/fuzz_sni.c).
#
# For each client: a tiny Python listener on 127.0.0.1 accepts a connection,
# keeps the TLS records of the first ClientHello whose bytes contain the name
# asked for, saves them as NAME.bin and closes; NAME.txt beside it records the
# client, its version, the command and what a parser must find (result, name,
# ech, ip_literal). ech and the name are cross-checked by a small independent
# Python parser, so a capture that does not hold what was asked fails here.
#
# Must never send a packet anywhere but loopback: when it can (root, util-linux
# unshare) the whole script re-runs itself in a new network namespace that has
# only "lo", plus a private mount namespace whose /etc/hosts maps the test
# names to 127.0.0.1 (for wget, which has no --resolve). Without a namespace
# every client is still pinned to 127.0.0.1 (curl --resolve/--connect-to,
# s_client -connect, Chromium --host-resolver-rules) and wget is skipped.
#
# Usage: tests/data/clienthello/capture.sh [OUTDIR]   (default: this folder)
# Needs: python3, curl, openssl; optional: chromium (apt-get install chromium),
# wget. Missing optional clients are skipped with a note.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${1:-$here}" && cd "${1:-$here}" && pwd)

if [ -z "${BT_CAPTURE_INNER:-}" ]; then
	if [ "$(id -u)" = 0 ] && unshare --net --mount true 2>/dev/null; then
		exec env BT_CAPTURE_INNER=netns unshare --net --mount --propagation private \
			"$0" "$out"
	fi
	echo "capture.sh: no network namespace (not root?); clients are pinned to 127.0.0.1" >&2
	export BT_CAPTURE_INNER=plain
fi

work=$(mktemp -d)
cleanup() {
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$BT_CAPTURE_INNER" = netns ]; then
	ip link set lo up
	cp /etc/hosts "$work/hosts"
	printf '127.0.0.1 www.example.com mail.example.org www.wikipedia.org\n' >>"$work/hosts"
	mount --bind "$work/hosts" /etc/hosts
fi

# listener.py PORTFILE OUT WANT: save the first ClientHello containing WANT.
cat >"$work/listener.py" <<'EOF'
import socket, sys, time

port_file, out, want = sys.argv[1], sys.argv[2], sys.argv[3].lower().encode()

def read_hello(c):
    """Read whole records until they hold one complete handshake message."""
    data, frag, pos = b"", b"", 0
    while True:
        while len(data) >= pos + 5:
            if data[0] != 0x16:
                return data
            rlen = int.from_bytes(data[pos + 3:pos + 5], "big")
            if len(data) < pos + 5 + rlen:
                break
            frag += data[pos + 5:pos + 5 + rlen]
            pos += 5 + rlen
            if len(frag) >= 4 and len(frag) >= 4 + int.from_bytes(frag[1:4], "big"):
                return data[:pos]
        try:
            chunk = c.recv(65536)
        except socket.timeout:
            return data
        if not chunk:
            return data
        data += chunk

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
s.settimeout(60)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
deadline = time.time() + 60
while time.time() < deadline:
    c, _ = s.accept()
    c.settimeout(10)
    hello = read_hello(c)
    c.close()
    if hello[:1] == b"\x16" and want in hello.lower():
        with open(out, "wb") as f:
            f.write(hello)
        sys.exit(0)
sys.exit("listener: no ClientHello with " + want.decode())
EOF

# check.py FILE: an independent, simple parse: prints "NAME ECH" ("-" for no name).
cat >"$work/check.py" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
msg, pos = b"", 0
while pos + 5 <= len(data):
    rlen = int.from_bytes(data[pos + 3:pos + 5], "big")
    msg += data[pos + 5:pos + 5 + rlen]
    pos += 5 + rlen
assert msg[0] == 1
p = 4 + 2 + 32
p += 1 + msg[p]
p += 2 + int.from_bytes(msg[p:p + 2], "big")
p += 1 + msg[p]
end = p + 2 + int.from_bytes(msg[p:p + 2], "big")
p += 2
name, ech = "-", 0
while p < end:
    t, l = int.from_bytes(msg[p:p + 2], "big"), int.from_bytes(msg[p + 2:p + 4], "big")
    if t == 0:
        n = int.from_bytes(msg[p + 7:p + 9], "big")
        name = msg[p + 9:p + 9 + n].decode().lower()
    if t == 0xfe0d:
        ech = 1
    p += 4 + l
print(name, ech)
EOF

# capture NAME WANT RESULT EXPECTED_NAME IP_LITERAL CLIENT_VERSION -- COMMAND...
# COMMAND may use the word PORT, replaced by the listener's port.
capture() {
	local name=$1 want=$2 result=$3 expect=$4 ip=$5 version=$6
	shift 7
	local portfile="$work/$name.port" bin="$out/$name.bin"
	rm -f "$portfile" "$bin"
	python3 "$work/listener.py" "$portfile" "$bin" "$want" &
	local lpid=$!
	for _ in $(seq 100); do
		[ -s "$portfile" ] && break
		sleep 0.05
	done
	local port
	port=$(cat "$portfile")
	local cmd=("${@//PORT/$port}")
	timeout 40 "${cmd[@]}" </dev/null >"$work/$name.log" 2>&1 || true
	if ! wait "$lpid"; then
		echo "capture.sh: $name: nothing captured; client said:" >&2
		tail -5 "$work/$name.log" >&2
		return 1
	fi
	local got got_name got_ech
	got=$(python3 "$work/check.py" "$bin")
	got_name=${got% *}
	got_ech=${got##* }
	local want_name=$expect
	[ "$result" = found ] || want_name=-
	[ "$ip" = 1 ] && want_name=$expect
	if [ "$got_name" != "$want_name" ]; then
		echo "capture.sh: $name: server_name '$got_name', asked for '$want_name'" >&2
		return 1
	fi
	{
		echo "client: $version"
		local shown
		shown=$(printf '%q ' "$@")
		echo "command: ${shown//$work/\$TMP}"
		echo "bytes: $(stat -c %s "$bin")"
		echo "result: $result"
		[ "$result" = found ] && echo "name: $expect"
		echo "ech: $got_ech"
		echo "ip_literal: $ip"
	} >"$out/$name.txt"
	echo "captured $name ($(stat -c %s "$bin") bytes, $result ${expect:--}, ech $got_ech)"
}

curl_v="curl $(curl --version | head -1 | cut -d' ' -f2) ($(curl --version | head -1 | grep -o 'OpenSSL/[^ ]*'))"
openssl_v=$(openssl version | cut -d' ' -f1-2)

capture curl-default www.example.com found www.example.com 0 "$curl_v" -- \
	curl -sk --max-time 10 --resolve www.example.com:PORT:127.0.0.1 https://www.example.com:PORT/
capture curl-tls12 mail.example.org found mail.example.org 0 "$curl_v" -- \
	curl -sk --max-time 10 --tlsv1.2 --tls-max 1.2 \
	--connect-to mail.example.org:443:127.0.0.1:PORT https://mail.example.org/
capture openssl-tls12 www.facebook.com found www.facebook.com 0 "$openssl_v s_client" -- \
	openssl s_client -tls1_2 -connect 127.0.0.1:PORT -servername www.facebook.com
capture openssl-tls13-mixedcase www.instagram.com found www.instagram.com 0 "$openssl_v s_client" -- \
	openssl s_client -tls1_3 -connect 127.0.0.1:PORT -servername WWW.Instagram.COM
capture openssl-noservername "" absent "" 0 "$openssl_v s_client" -- \
	openssl s_client -connect 127.0.0.1:PORT -noservername
capture openssl-ip-literal 192.0.2.7 absent 192.0.2.7 1 "$openssl_v s_client" -- \
	openssl s_client -connect 127.0.0.1:PORT -servername 192.0.2.7

if [ "$BT_CAPTURE_INNER" = netns ] && command -v wget >/dev/null; then
	wget_v="$(wget --version | head -1 | cut -d' ' -f1-3)"
	if command -v dpkg-query >/dev/null; then
		wget_v="$wget_v (GnuTLS $(dpkg-query -W -f '${Version}' libgnutls30 2>/dev/null || echo '?'))"
	fi
	capture wget-gnutls www.wikipedia.org found www.wikipedia.org 0 "$wget_v" -- \
		wget -q -O /dev/null --tries=1 --timeout=10 --no-check-certificate https://www.wikipedia.org:PORT/
else
	echo "capture.sh: skipping wget (needs wget and a network namespace)" >&2
fi

chromium_bin=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chromium_bin" ]; then
	profile=$(mktemp -d -p "$work")
	chromium_v=$("$chromium_bin" --version 2>/dev/null | head -1 | cut -d' ' -f1-2)
	capture chromium www.example.com found www.example.com 0 "$chromium_v headless" -- \
		"$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --user-data-dir="$profile" \
		--host-resolver-rules="MAP * 127.0.0.1:PORT" --dump-dom https://www.example.com/
else
	echo "capture.sh: skipping chromium (apt-get install chromium)" >&2
fi
