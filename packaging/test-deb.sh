#!/bin/sh
# packaging/test-deb.sh - `make test-deb`: builds the package, installs it
# into a scratch root with its own package database (dpkg --root, never the
# system's), runs `zcopy run` from there on a copy that engages, removes the
# package, and checks that nothing of it is left.  Without dpkg-deb it says
# so and counts as skipped (exit 77), not as passed.
set -eu
if ! command -v dpkg-deb >/dev/null || ! command -v dpkg >/dev/null; then
	echo "test-deb: SKIPPED: dpkg-deb not found" >&2
	exit 77
fi
fail() { echo "test-deb: FAILED: $*" >&2; exit 1; }
deb=$(sh packaging/deb.sh | tail -n 1)
[ -f "$deb" ] || fail "no package built"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/zcopy-deb.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
root=$scratch/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
: > "$root/var/lib/dpkg/status"
: > "$root/var/lib/dpkg/available"
dpkg_scratch() {
	# --force-depends: libc6 is the system's, not in the scratch database.
	dpkg --root="$root" --log=/dev/null --force-not-root --force-depends \
		--force-bad-path --no-triggers "$@" >"$scratch/dpkg.out" 2>&1 ||
		{ cat "$scratch/dpkg.out" >&2; fail "dpkg $*"; }
}
dpkg_scratch -i "$deb"
[ "$(dpkg --root="$root" -s zcopy 2>/dev/null | sed -n 's/^Status: //p')" = "install ok installed" ] ||
	fail "zcopy not installed in the scratch root"
lib=$(find "$root/usr/lib" -name 'libzcopy.so.*.*' -type f)
[ -n "$lib" ] || fail "no libzcopy.so.VERSION installed"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ -L "$(dirname "$lib")/$soname" ] || fail "no $soname symlink beside $lib"
! readelf -S "$lib" | grep -q '\.debug_info' || fail "$lib is not stripped"
[ -f "$(dirname "$lib")/pkgconfig/zcopy.pc" ] || fail "zcopy.pc not installed"
[ -f "$root/usr/include/zcopy.h" ] || fail "zcopy.h not installed"
[ -f "$root/usr/share/man/man1/zcopy.1.gz" ] || fail "manual not installed"

# The installed tool finds the installed library (not build/'s) and zcopy
# engages: the same bytes as a plain cat, and a record with bytes_zero_copy.
head -c 3000000 /dev/urandom > "$scratch/in"
cat "$scratch/in" | cat > "$scratch/out.plain"
env -u LD_PRELOAD -u ZCOPY_LIBRARY "$root/usr/bin/zcopy" run -s "$scratch/stats" -- \
	sh -c 'cat "$1" | cat > "$2"; echo "$LD_PRELOAD" > "$3"' sh \
	"$scratch/in" "$scratch/out" "$scratch/preload" || fail "zcopy run exited $?"
cmp -s "$scratch/out.plain" "$scratch/out" || fail "output differs under the packaged zcopy"
case $(cat "$scratch/preload") in
"$(dirname "$lib")"/*) ;;
*) fail "preloaded $(cat "$scratch/preload"), not the packaged library" ;;
esac
grep -q '"bytes_zero_copy":[1-9]' "$scratch/stats" || fail "zcopy did not engage: $(cat "$scratch/stats")"

dpkg_scratch --purge zcopy
left=$(cd "$root" && find . \( -type f -o -type l \) ! -path './var/lib/dpkg/*')
[ -z "$left" ] || fail "left after removal: $left"
dirs=$(cd "$root" && find . -mindepth 1 -type d ! -path './var*' | head -n 5)
[ -z "$dirs" ] || fail "directories left after removal: $dirs"
echo "test-deb: package $(basename "$deb") installs, runs and removes cleanly"
