# Sourced by tools/quickstart and tools/test: install the Debian packages
# that are missing (apt-get, as root or through sudo). Nothing else is
# downloaded from anywhere.
BUILD_PACKAGES="meson ninja-build pkg-config gcc libevent-dev libssl-dev libinih-dev
  libsqlite3-dev libpsl-dev libsystemd-dev libpcap-dev"
TEST_PACKAGES="sarg check curl openssl python3 nginx-light clang libclang-rt-14-dev
  faketime chromium apache2-utils squid nodejs tzdata tshark cppcheck clang-tidy
  groff-base man-db nftables iproute2 libnss3-tools"

install_missing() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "installing:$missing"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq || true
	# tshark's wireshark-common asks whether non-root users may capture: no
	case " $missing " in *" tshark "*)
		command -v debconf-set-selections >/dev/null &&
			echo "wireshark-common wireshark-common/install-setuid boolean false" |
			$SUDO debconf-set-selections || true ;;
	esac
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
}
