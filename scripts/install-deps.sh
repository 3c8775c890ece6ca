#!/usr/bin/env bash
# Installs what svc needs to build and test, and nothing that is already there.
# Debian packages through apt, Python packages through pip. Safe to run again.
#   --bench   also what the benchmarks compare against (libcurl, urllib3, httpx, requests)
set -euo pipefail
BENCH=0
[[ ${1:-} == --bench ]] && BENCH=1

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libssl-dev openssl libboost-dev libc-ares-dev libxxhash-dev
  nlohmann-json3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  swig python3-dev
  clang libclang-rt-14-dev  # scripts/fuzz.sh: clang and its libFuzzer runtime
  dnsmasq-base
)
PIP_PACKAGES=(pybind11 scikit-build-core pytest)
if ((BENCH)); then
  DEB_PACKAGES+=(libcurl4-openssl-dev)
  PIP_PACKAGES+=(urllib3 httpx requests)
fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Go comes with the machine image; Debian's golang-go is the fallback.
if ! command -v go >/dev/null 2>&1; then
  echo "install-deps: installing Go from Debian"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go
fi

PY=${PYTHON:-python3}
pip_missing=()
for p in "${PIP_PACKAGES[@]}"; do
  mod=${p//-/_}
  if ! "$PY" -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('$mod') else 1)" 2>/dev/null; then
    pip_missing+=("$p")
  fi
done
if ((${#pip_missing[@]})); then
  echo "install-deps: installing Python packages: ${pip_missing[*]}"
  "$PY" -m pip install -q "${pip_missing[@]}"
fi

echo "install-deps: all dependencies present"
