#!/bin/sh
# usage: runtime-packages.sh BINARY...
# Print the Debian packages that ship the shared libraries the binaries load
# (ldd's closure), one per line: the runtime image installs exactly these.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
libs=$(for b in "$@"; do ldd "$b"; done | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
for lib in $libs; do
  # usrmerge: dpkg may know a file under /lib or /usr/lib only.
  real=$(readlink -f "$lib")
  pkg=""
  for p in "$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}"; do
    pkg=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ]; then echo "runtime-packages.sh: no package ships $lib" >&2; exit 1; fi
  echo "$pkg"
done | sort -u
