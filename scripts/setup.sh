#!/usr/bin/env bash
# setup.sh installs everything cen needs on a Debian 12 machine: Debian packages (OpenCV, OpenBLAS, the ROS 1
# tools, Python checkers), the Go modules, and the ONNX Runtime shared library taken from an npm package.
#
# It is idempotent: with everything present it only checks and returns in seconds.
#   GPU=1  installs the CUDA 13 build of ONNX Runtime instead of the CPU one.
#
# The ONNX Runtime library is unpacked into .deps/onnxruntime/<flavour>/ inside the repository (ignored by git).
# npm's install scripts are never run: the tarball is fetched with `npm pack`, its checksum is compared with the
# pinned one, and only the shared libraries are extracted.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gpu=${GPU:-0}
export PATH="$PATH:/usr/local/go/bin"

log() { printf 'setup [%ds]: %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run 'make setup' as root to install Debian packages"
  sudo_cmd=(sudo)
fi

# ---- Debian packages ---------------------------------------------------------------------------------------
apt_pkgs=(
  build-essential pkg-config git ca-certificates openssl
  libopencv-dev libopenblas-dev
  python3-rosmaster python3-roslaunch python3-rostopic python3-rosnode python3-rosparam
  python3-rosbag python3-roslz4 python3-sensor-msgs python3-std-msgs python3-tf2-msgs python3-rosgraph-msgs lz4
  libmessage-filters-dev libroscpp-dev
  chromium
  python3-dynamic-reconfigure libdynamic-reconfigure-config-init-mutex-dev python3-rosservice
  python3-numpy python3-onnx python3-torch
  nodejs npm
)
missing=()
for p in "${apt_pkgs[@]}"; do
  # npm may come from outside Debian (it does on some images): accept any working npm.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

command -v go >/dev/null 2>&1 || die "Go is not installed (expected /usr/local/go/bin/go, Go >= 1.26)"

# ---- Go modules ------------------------------------------------------------------------------------------------
(cd "$root" && go mod download) || die "go mod download failed"
log "Go modules present"

# ---- ONNX Runtime ----------------------------------------------------------------------------------------------
# Pinned packages and the sha512 integrity the npm registry publishes for them.
ort_cpu_pkg=onnxruntime-node@1.24.1
ort_cpu_sha512='Ex/oUXKdhDoxvlNxBT3oYtW0MH88yYpPlXQeVQUXpcJQmN24usd/8RCoPLN5kCHwDsiZ+nqsnjciyFRl423dQw=='
# The GPU build pairs onnxruntime-node's core library (built with the provider bridge that loads the CUDA and
# TensorRT providers) with the CUDA 13 provider libraries of the same ONNX Runtime version (1.29.0) from the Unity
# package. (That package's own Linux core library is a CPU-only build: "CUDA execution provider is not enabled".)
ort_gpu_core_pkg=onnxruntime-node@1.29.0
ort_gpu_core_sha512='WjiVVB72riILz8HbYvxvmjKyE/WmkYoSfKY++axo5jAR609HQg8MwiG/HhShpTcJfmmAdzxxmB+MMST3A+SiPA=='
ort_gpu_ep_pkg=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
ort_gpu_ep_sha512='FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w=='

# fetch PKG SHA512 DIR: npm pack PKG into DIR, check the checksum, print the tarball path.
fetch() {
  local pkg=$1 want=$2 dir=$3 tgz got
  tgz=$(cd "$dir" && npm pack --silent --ignore-scripts "$pkg" 2>/dev/null | tail -n 1) ||
    die "npm pack $pkg failed (is the npm registry reachable?)"
  got=$(openssl dgst -sha512 -binary "$dir/$tgz" | base64 -w0)
  [ "$got" = "$want" ] || die "checksum mismatch for $pkg: got sha512-$got, want sha512-$want"
  printf '%s\n' "$dir/$tgz"
}

if [ "$gpu" = 1 ]; then
  flavour=gpu; stamp="$ort_gpu_core_pkg+$ort_gpu_ep_pkg"
else
  flavour=cpu; stamp="$ort_cpu_pkg"
fi
dest="$root/.deps/onnxruntime/$flavour"
if [ -f "$dest/STAMP" ] && [ "$(cat "$dest/STAMP")" = "$stamp" ] && [ -f "$dest/libonnxruntime.so" ]; then
  log "ONNX Runtime ($flavour) present in $dest"
else
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch ONNX Runtime"
  command -v openssl >/dev/null 2>&1 || die "openssl is needed to check ONNX Runtime's checksum"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$dest.new" && mkdir -p "$dest.new"
  if [ "$flavour" = cpu ]; then
    log "fetching $ort_cpu_pkg"
    tgz=$(fetch "$ort_cpu_pkg" "$ort_cpu_sha512" "$tmp")
    tar -xzf "$tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
    mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$dest.new/libonnxruntime.so"
  else
    log "fetching $ort_gpu_core_pkg and $ort_gpu_ep_pkg (the CUDA provider alone is about 230 MB; it needs CUDA 13 cudart/cuBLAS and cuDNN 9 on the machine)"
    tgz=$(fetch "$ort_gpu_core_pkg" "$ort_gpu_core_sha512" "$tmp")
    tar -xzf "$tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
    mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$dest.new/libonnxruntime.so"
    tgz=$(fetch "$ort_gpu_ep_pkg" "$ort_gpu_ep_sha512" "$tmp")
    tar -xzf "$tgz" -C "$tmp" --wildcards 'package/*libonnxruntime_providers_*.so'
    find "$tmp/package" -name 'libonnxruntime_providers_*.so' -exec mv {} "$dest.new/" \;
    ls "$dest.new"/libonnxruntime_providers_cuda.so >/dev/null 2>&1 || die "$ort_gpu_ep_pkg has no CUDA provider library"
  fi
  printf '%s\n' "$stamp" > "$dest.new/STAMP"
  rm -rf "$dest" && mv "$dest.new" "$dest"
  log "ONNX Runtime ($flavour) installed in $dest"
fi
# The flavour the last setup chose is what cen finds by default.
ln -sfn "$flavour" "$root/.deps/onnxruntime/current"
log "done"
