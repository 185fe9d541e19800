#!/bin/sh
# Test dependencies, all from Debian's packages; each one is used by a suite
# of `make test` (build-essential also brings nm and objdump for
# check-symbols, and gcc's sanitizer runtimes for `make sanitize`).  Only
# with --install (.ci/run) are missing ones installed; otherwise (`make
# test`) the exact command is printed and the script fails.
PKGS="build-essential pkg-config libcmocka-dev check coreutils busybox socat \
netcat-openbsd pv gzip perl python3 nginx-light lighttpd mbuffer rsync xfsprogs tar strace xxd \
curl nodejs pmccabe"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "${1:-}" = "--install" ]; then
	echo "tests/deps.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || exit 1
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
	exit 0
fi
echo "tests/deps.sh: missing test dependencies:$missing" >&2
if [ "$(id -u)" = 0 ]; then
	echo "install them with: apt-get install -y$missing  (or run .ci/run)" >&2
else
	echo "install them with: sudo apt-get install -y$missing" >&2
fi
exit 1
