#!/bin/bash
# capture.sh: regenerate the real-client capture files of breaktime-sensor's
# tests (tests/integration/sensor/test_sensor_real.py) on loopback only.
#
# Each file is one short tcpdump (or dumpcap, for the pcapng one) on "lo"
# while real clients talk to local servers:
#
#   curl-tls13.pcap       curl (TLS 1.3)  https://www.instagram.com/   -> openssl s_server 127.0.0.11:443,
#                         then https://www.threads.net/ over IPv6       -> openssl s_server [::1]:443
#   curl-tls12.pcap       curl --tlsv1.2  https://www.tiktok.com/      -> openssl s_server 127.0.0.12:443
#   openssl-tls13.pcapng  openssl s_client -tls1_3 www.reddit.com      -> openssl s_server 127.0.0.13:443 (dumpcap)
#   openssl-tls12.pcap    openssl s_client -tls1_2 www.snapchat.com    -> openssl s_server 127.0.0.14:443
#   curl-tfo.pcap         curl --tcp-fastopen https://www.linkedin.com/ -> openssl s_server 127.0.0.19:443:
#                         the ClientHello is the payload of the SYN
#   curl-http.pcap        curl http://www.pinterest.com/               -> python3 http.server 127.0.0.15:80
#   chromium-https.pcap   headless Chromium loads https://www.facebook.com/index.html (openssl s_server -WWW
#                         on 127.0.0.16:443), whose image comes from scontent.cdninstagram.com (127.0.0.18);
#                         its ~1.9 KB ClientHellos span two TCP segments (lo has a 1500-byte MTU here)
#   chromium-quic.pcap    headless Chromium with --origin-to-force-quic-on=www.youtube.com:443 loads
#                         https://www.youtube.com/: QUIC Initials to 127.0.0.17 UDP 443, where a
#                         Python socket reads and drops them (no answer, and no ICMP port unreachable,
#                         which would end the attempt after the first of the hello's two packets);
#                         Chromium is stopped after 6 s of retransmissions
#   snaplen96.pcap        tcpdump -s 96 while dig +nocookie www.twitch.tv (UDP), dig +tcp www.discord.com
#                         (TCP, ::1) and curl https://www.instagram.com run: only the UDP query fits
#   dns-dig.pcap          dig www.twitch.tv (UDP, 127.0.0.53), dig +tcp www.discord.com (TCP, ::1),
#                         dig www.example.org (UDP, not a platform) -> a small Python DNS server on port 53
#
# The names are real platforms' names from config/platforms.list, so they
# classify; every one of them is mapped to a 127.0.0.x address by the
# client itself (curl --resolve / --connect-to, s_client -connect, Chromium
# --host-resolver-rules, dig @server). The server certificate is a throwaway
# self-signed one made here.
#
# Must never send a packet anywhere but loopback: the script re-runs itself
# in a new network namespace (unshare --net) that has only "lo", so it needs
# root (also for tcpdump and for ports 53, 80 and 443, which make tshark
# dissect the traffic without hints). It refuses to run without one.
#
# Usage: tests/data/pcap/capture.sh [OUTDIR]   (default: this folder)
#        ONLY="curl-tfo.pcap dns-dig.pcap" tests/data/pcap/capture.sh   rewrites only those
# Needs: tcpdump, dumpcap (wireshark-common or tshark), curl, openssl,
# python3, dig (bind9-dnsutils), chromium, ethtool; a missing one is an error, as the
# test's expected sets cover every file. After regenerating, run
# test_sensor_real.py: the expected (protocol, name, client, server) sets do
# not depend on ports or timing, so they should still hold.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${1:-$here}" && cd "${1:-$here}" && pwd)

if [ -z "${BT_CAPTURE_INNER:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! unshare --net true 2>/dev/null; then
		echo "capture.sh: needs root and unshare --net (a namespace with only lo)" >&2
		exit 1
	fi
	exec env BT_CAPTURE_INNER=1 unshare --net "$0" "$out"
fi

for tool in tcpdump dumpcap curl openssl python3 dig chromium ethtool; do
	command -v "$tool" >/dev/null || { echo "capture.sh: $tool missing" >&2; exit 1; }
done

ip link set lo up
# look like an Ethernet link: 1500-byte packets, segmented by TCP itself
# (loopback's offloads would hand tcpdump 64 KB segments), so Chromium's
# ~1.9 KB ClientHello is split over two TCP segments as on a real network
ip link set lo mtu 1500
ethtool -K lo tso off gso off gro off tx off >/dev/null
# one interface, no route anywhere else: nothing can leave this namespace
if ip -o link | grep -v ': lo:' | grep -q .; then
	echo "capture.sh: namespace has more than lo" >&2
	exit 1
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=breaktime-capture -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# start_server CMD...: run a server in the background (in $work/www, which
# openssl s_server -WWW serves files from), remember its pid
mkdir -p "$work/www"
servers=()
start_server() {
	(cd "$work/www" && exec "$@") </dev/null >>"$work/server.log" 2>&1 &
	pids+=($!)
	servers+=($!)
	sleep 0.5
}

# stop_server: stop the servers started since the last stop_server
stop_server() {
	for p in "${servers[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	servers=()
}

# capture FILE -- CMD...: capture lo to FILE while CMD runs (at most 30 s)
capture() {
	local file=$1
	shift 2
	case " ${ONLY:-$file} " in *" $file "*) ;; *) return 0 ;; esac
	local tmp="$work/$file"
	rm -f "$tmp" "$work/cap.log"
	case "$file" in
	*.pcapng) dumpcap -q -i lo -s 0 -w "$tmp" >"$work/cap.log" 2>&1 & ;;
	snaplen96.pcap) tcpdump -i lo -s 96 -U --immediate-mode -Z root -n -w "$tmp" >"$work/cap.log" 2>&1 & ;;
	*) tcpdump -i lo -s 0 -U --immediate-mode -Z root -n -w "$tmp" >"$work/cap.log" 2>&1 & ;;
	esac
	local cpid=$!
	for _ in $(seq 100); do
		grep -qE 'listening on|apturing on' "$work/cap.log" 2>/dev/null && break
		sleep 0.1
	done
	sleep 0.3
	timeout 30 "$@" </dev/null >"$work/client.log" 2>&1 || true
	sleep 0.5
	kill -INT "$cpid"
	wait "$cpid" || true
	cp "$tmp" "$out/$file"
	chmod 644 "$out/$file"
	echo "captured $file ($(stat -c %s "$out/$file") bytes)"
}

# tls_server ADDRESS [-www|-WWW]: openssl s_server on ADDRESS port 443
tls_server() {
	start_server openssl s_server -accept "$1:443" -cert "$work/cert.pem" -key "$work/key.pem" "${2:--www}"
}

# ---- curl and openssl s_client, TLS 1.3 and 1.2 ----
tls_server 127.0.0.11
tls_server "[::1]"
capture curl-tls13.pcap -- bash -c 'curl -sk --max-time 10 --tlsv1.3 \
	--resolve www.instagram.com:443:127.0.0.11 -o /dev/null https://www.instagram.com/
	curl -sk --max-time 10 --tlsv1.3 --resolve "www.threads.net:443:[::1]" -o /dev/null https://www.threads.net/'
stop_server

tls_server 127.0.0.12
capture curl-tls12.pcap -- curl -sk --max-time 10 --tlsv1.2 --tls-max 1.2 \
	--connect-to www.tiktok.com:443:127.0.0.12:443 -o /dev/null https://www.tiktok.com/
stop_server

tls_server 127.0.0.13
capture openssl-tls13.pcapng -- openssl s_client -tls1_3 -connect 127.0.0.13:443 -servername www.reddit.com
stop_server

tls_server 127.0.0.14
capture openssl-tls12.pcap -- openssl s_client -tls1_2 -connect 127.0.0.14:443 -servername www.snapchat.com
stop_server

# TCP Fast Open: the whole ClientHello rides in the SYN (this namespace's
# sysctl: clients send data in the SYN and servers take it without a cookie)
sysctl -qw net.ipv4.tcp_fastopen=0x607
tls_server 127.0.0.19
capture curl-tfo.pcap -- curl -sk --max-time 10 --tcp-fastopen \
	--resolve www.linkedin.com:443:127.0.0.19 -o /dev/null https://www.linkedin.com/
stop_server
sysctl -qw net.ipv4.tcp_fastopen=1

# ---- plain HTTP: the Host header ----
echo '<html><body>breaktime capture <img src="https://scontent.cdninstagram.com/pixel.png"></body></html>' \
	>"$work/www/index.html"
printf '\x89PNG\r\n\x1a\n' >"$work/www/pixel.png"
start_server python3 -m http.server 80 --bind 127.0.0.15 --directory "$work/www"
capture curl-http.pcap -- curl -s --max-time 10 --resolve www.pinterest.com:80:127.0.0.15 \
	-o /dev/null http://www.pinterest.com/
stop_server

# ---- headless Chromium: HTTPS, then QUIC ----
chromium_args=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
	--disable-component-update --disable-sync --disable-default-apps --disable-extensions
	--ignore-certificate-errors --dump-dom)
tls_server 127.0.0.16 -WWW
tls_server 127.0.0.18 -WWW
capture chromium-https.pcap -- chromium "${chromium_args[@]}" --disable-quic \
	--user-data-dir="$work/profile1" \
	--host-resolver-rules="MAP www.facebook.com 127.0.0.16, MAP scontent.cdninstagram.com 127.0.0.18, MAP * ~NOTFOUND" \
	https://www.facebook.com/index.html
stop_server

start_server python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.17", 443))
while True:
    s.recv(65536)'
capture chromium-quic.pcap -- timeout 6 chromium "${chromium_args[@]}" --enable-quic \
	--origin-to-force-quic-on=www.youtube.com:443 --user-data-dir="$work/profile2" \
	--host-resolver-rules="MAP www.youtube.com 127.0.0.17, MAP * ~NOTFOUND" https://www.youtube.com/
stop_server

# ---- dig over UDP and TCP ----
cat >"$work/dns.py" <<'EOF'
# A tiny DNS server for capture.sh: answers every A question with
# 198.51.100.7 and every AAAA question with 2001:db8::7, over UDP and TCP,
# on 127.0.0.53 and ::1 port 53.
import socket, socketserver, struct, threading

def answer(q):
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    p = 12
    while q[p]:
        p += 1 + q[p]
    qtype = struct.unpack("!H", q[p + 1:p + 3])[0]
    question = q[12:p + 5]
    rr = b""
    if qtype == 1:
        rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_pton(socket.AF_INET, "198.51.100.7")
    elif qtype == 28:
        rr = b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 300, 16) + socket.inet_pton(socket.AF_INET6, "2001:db8::7")
    return struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, 1 if rr else 0, 0, 0) + question + rr

class UDP(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(answer(data), self.client_address)

class TCP(socketserver.BaseRequestHandler):
    def handle(self):
        n = struct.unpack("!H", self.request.recv(2))[0]
        q = b""
        while len(q) < n:
            q += self.request.recv(n - len(q))
        a = answer(q)
        self.request.sendall(struct.pack("!H", len(a)) + a)

class UDP6(socketserver.ThreadingUDPServer):
    address_family = socket.AF_INET6

class TCP6(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6

for cls, addr, h in ((socketserver.ThreadingUDPServer, "127.0.0.53", UDP), (UDP6, "::1", UDP),
                     (socketserver.ThreadingTCPServer, "127.0.0.53", TCP), (TCP6, "::1", TCP)):
    cls.allow_reuse_address = True
    s = cls((addr, 53), h)
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Event().wait()
EOF
start_server python3 "$work/dns.py"
cat >"$work/dig.sh" <<'EOF'
dig @127.0.0.53 +tries=1 +time=3 www.twitch.tv A
dig @::1 +tcp +tries=1 +time=3 www.discord.com AAAA
dig @127.0.0.53 +tries=1 +time=3 www.example.org A
EOF
capture dns-dig.pcap -- bash "$work/dig.sh"

# ---- a 96-byte snaplen (tcpdump -s 96): the UDP query fits whole, the
# TCP one (32-byte TCP header over IPv6) and the ClientHello do not ----
tls_server 127.0.0.11
cat >"$work/snap.sh" <<'EOF'
dig @127.0.0.53 +nocookie +tries=1 +time=3 www.twitch.tv A
dig @::1 +tcp +tries=1 +time=3 www.discord.com AAAA
curl -sk --max-time 10 --resolve www.instagram.com:443:127.0.0.11 -o /dev/null https://www.instagram.com/
EOF
capture snaplen96.pcap -- bash "$work/snap.sh"
stop_server

echo "done: $out"
