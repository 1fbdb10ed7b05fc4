#!/usr/bin/env bash
# Installs the real components that Vigil's tests talk to, when the machine lacks them.
# Debian packages via apt-get (run as root, as CI is); everything else comes from npm, PyPI or Maven Central
# through the project's own scripts. Idempotent: a machine that has everything is left alone.
set -euo pipefail

# command-that-must-exist -> Debian package that provides it
declare -A NEED=(
  [tshark]=tshark
  [dumpcap]=wireshark-common
  [editcap]=wireshark-common
  [tcpdump]=tcpdump
  [mosquitto]=mosquitto
  [mosquitto_pub]=mosquitto-clients
  [mosquitto_sub]=mosquitto-clients
  [dnsmasq]=dnsmasq-base
  [dig]=bind9-dnsutils
  [curl]=curl
  [/usr/lib/postgresql/15/bin/postgres]=postgresql
  [python3]=python3-venv # deploy/python-venv.sh builds the pinned oracle venv (dp-accounting) with it
)

missing=()
for cmd in "${!NEED[@]}"; do
  if [[ "$cmd" == /* ]]; then [[ -x "$cmd" ]] || missing+=("${NEED[$cmd]}")
  else command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}"); fi
done

if ((${#missing[@]})); then
  echo "install-test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-test-deps: all system packages present"
fi
