#!/usr/bin/env bash
# Make `python3.11` (a final release, with its venv module) available on an Ubuntu or Debian image, as root.
# Ubuntu 22.04 (Gradescope's and otter's default base) ships a 3.11 release candidate: then the deadsnakes PPA.
# Debian bookworm's python3.11 is final. Used by Gradescope's setup.sh and embedded in otter's setup.sh.
#
# Why not the system Python (3.10 on Ubuntu 22.04): requirements.txt pins numpy 2.4, scikit-learn 1.9, pillow 13
# and matplotlib 3.11, which publish no Python 3.10 wheels, and the grade depends on those exact versions.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

is_final_311() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) and sys.version_info.releaselevel == "final" else 1)'; }

apt-get update
apt-get install -y --no-install-recommends ca-certificates python3.11 python3.11-venv || true
if ! command -v python3.11 >/dev/null || ! is_final_311 python3.11; then
  echo "install_python311.sh: the distribution's python3.11 is missing or a pre-release; using the deadsnakes PPA"
  apt-get install -y --no-install-recommends software-properties-common gpg-agent
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
fi
is_final_311 python3.11 || { echo "install_python311.sh: FAILED: no Python 3.11 available" >&2; exit 1; }
echo "install_python311.sh: $(python3.11 --version)"
