#!/bin/sh
# packaging/deb.sh - `make deb`: builds build/zcopy_VERSION_ARCH.deb with
# dpkg-deb from a staged `make install-strip` (PREFIX=/usr, the multiarch
# LIBDIR), in a build directory of its own so build/ keeps its settings.
# Prints the path of the package on its last line.
set -eu
command -v dpkg-deb >/dev/null || { echo "make deb: dpkg-deb not found (apt-get install dpkg)" >&2; exit 1; }
MAKE=${MAKE:-make}
version=$(sed -n 's/^#define ZCOPY_VERSION "\(.*\)"/\1/p' include/zcopy.h)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
libdir=/usr/lib${multiarch:+/$multiarch}
top=$(pwd)
stage=$top/build/deb
root=$stage/root
rm -rf "$root"
mkdir -p "$root/DEBIAN"
$MAKE --no-print-directory BUILD="$stage/build" PREFIX=/usr LIBDIR="$libdir" \
	DESTDIR="$root" install-strip >/dev/null
# Debian keeps manual pages compressed and a copyright file per package.
gzip -9n "$root/usr/share/man/man1/zcopy.1"
install -d "$root/usr/share/doc/zcopy"
printf 'zcopy %s\n\nSee README.md in the source for the licence and authors.\n' "$version" \
	> "$root/usr/share/doc/zcopy/copyright"
glibc=$(dpkg-query -W -f='${Version}' libc6 2>/dev/null | sed 's/-.*//' || true)
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: zcopy
Version: $version
Architecture: $arch
Maintainer: zcopy developers <zcopy@localhost>
Installed-Size: $size
Depends: libc6${glibc:+ (>= $glibc)}
Section: utils
Priority: optional
Description: zero-copy file streaming for unmodified programs (LD_PRELOAD)
 libzcopy.so turns a program's read()+write() file streaming into
 copy_file_range, sendfile and splice, without changing anything the program
 can observe.  The zcopy command runs a program under it, reports what it
 could redirect (observe) and compares a program with and without it (ab).
CONTROL
# The shared library is registered with the dynamic linker's cache.
echo "activate-noawait ldconfig" > "$root/DEBIAN/triggers"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum) > "$root/DEBIAN/md5sums"
deb=$top/build/zcopy_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz -b "$root" "$deb" >/dev/null
echo "$deb"
