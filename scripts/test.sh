#!/usr/bin/env bash
# Installs everything the test suite needs (Python packages; PostgreSQL, MariaDB, Ceph RGW and OpenSSH server
# binaries; rclone for the benchmarks) and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
# Real servers the tests start themselves on loopback: PostgreSQL (initdb/pg_ctl).
if ! command -v initdb >/dev/null 2>&1; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$pgbin" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  export PATH="$pgbin:$PATH"
fi
# MariaDB (mariadb-install-db/mariadbd, run as the mysql user from a temporary directory).
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi
# Ceph (mon + memstore OSD + radosgw: the S3 server), OpenSSH sshd (the SFTP server), rclone (benchmarks).
pkgs=()
command -v radosgw >/dev/null 2>&1 || pkgs+=(radosgw ceph-mon ceph-osd ceph-common)
[ -x /usr/sbin/sshd ] || pkgs+=(openssh-server)
command -v rclone >/dev/null 2>&1 || pkgs+=(rclone)
[ -x /usr/bin/chromium ] || pkgs+=(chromium)  # the console's end-to-end tests (Playwright)
if [ ${#pkgs[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac
exec .venv/bin/python -m pytest "$@"
