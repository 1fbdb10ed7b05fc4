#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment the tests use, with the pinned packages of
# deploy/python-requirements.txt. Idempotent: when the venv already holds exactly these requirements it returns at
# once. Safe to call from several test files at the same time (serialised with flock).
# Usage: bash deploy/python-venv.sh        -> prints the venv's python path on stdout
# Env:   VIGIL_VENV=/path  (default: <repo>/.venv, which .gitignore excludes)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VIGIL_VENV:-$root/.venv}"
req="$root/deploy/python-requirements.txt"
stamp="$venv/.requirements.sha256"

has_venv() { command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null; }
if ! has_venv && [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  # Debian's python3 ships without ensurepip; CI runs as root, so install what venv needs.
  echo "python-venv: installing python3-venv" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2; }
fi
has_venv || { echo "python-venv: python3 with the venv module is missing (apt-get install python3-venv)" >&2; exit 1; }

exec 9<"$req"
flock 9
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "python-venv: creating $venv" >&2
python3 -m venv "$venv"
# Every package, dependencies included, is pinned in $req: install exactly that set (no resolver), then let pip check
# that it is consistent. The one accepted complaint is flwr's certifi floor (see the note in $req).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps -r "$req" >&2
problems="$("$venv/bin/python" -m pip check --disable-pip-version-check 2>&1 | grep -v -e '^No broken requirements' \
  -e '^flwr 1\.42\.0 has requirement certifi>=2026\.10\.19, but you have certifi 2026\.10\.18\.$' || true)"
if [[ -n "$problems" ]]; then
  echo "python-venv: the pinned packages are inconsistent:" >&2
  echo "$problems" >&2
  exit 1
fi
echo "$want" >"$stamp"
echo "$venv/bin/python"
