#!/bin/sh
# setup.sh -- installs, with apt-get, what building and testing pg_locality
# needs and this machine lacks.  A no-op when everything is present.
# Run as root (make test / make demo do); a non-root user only gets told.
set -eu

# The server and its development files are installed together so that the
# headers match the server that loads the module.
packages="postgresql-15 postgresql-client-15 postgresql-server-dev-15 libpq-dev
  g++ make cmake libgtest-dev libboost-dev libipc-run-perl faketime
  postgresql-contrib"

missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
# Keep the server at the version of its development files.
if [ -n "$missing" ] && echo "$missing" | grep -q postgresql-server-dev-15; then
  missing="$missing postgresql-15 postgresql-client-15"
fi

if [ -z "$missing" ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "setup: missing packages:$missing" >&2
  echo "setup: run as root (or: sudo apt-get install$missing)" >&2
  exit 1
fi

echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
install() {
  apt-get install -y -q --no-install-recommends $missing </dev/null
}
if ! install; then
  apt-get update -q </dev/null
  install
fi
