#!/usr/bin/env bash
# Installs opencdm and runs the embedded-default demo: a 1,000,000-row SQLite table migrated through the API.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/opencdm demo "$@"
