#!/usr/bin/env bash
# Installs every Debian 12 package spinescan needs (build, tests, tuning, benchmarks),
# makes OpenBLAS the active BLAS, and builds the project in Release into build/.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev                 # PyTorch 1.13 C++ API (CPU)
  patchelf                     # a copy of libtorch_cpu without the 22 libraries it never calls (cmake/trim_libtorch.cmake)
  libopenblas0-pthread libopenblas-dev  # fast sgemm for libtorch (the reference BLAS is ~40x slower)
  libinsighttoolkit5-dev       # ITK 5: DICOM (GDCM), NIfTI, MHA/MHD, NRRD
  libdcmtk-dev                 # DCMTK: DICOM SEG, SR and secondary capture out (dcmseg, dcmsr, dcmdata)
  libxgboost-dev               # gradient-boosted trees (C API)
  python3-optuna               # hyper-parameter studies
  python3-torchvision          # reference model of bench/run_detector_bench.sh (Debian's python3 at /usr/bin)
  libgdcm-tools                # its absence makes GDCM's CMake config print pages of warnings
  libgtest-dev libgmock-dev    # unit tests
  libcli11-dev nlohmann-json3-dev libpng-dev zlib1g-dev
  dcmtk dicom3tools            # dsrdump and dciodvfy: the tests check the DICOM results with them
  curl                         # scripts/pacs/local_orthanc.sh asks Orthanc whether it is up
  libcurl4-openssl-dev         # the PACS worker's HTTP client
  orthanc orthanc-dicomweb     # a real PACS for the worker's integration test (started by the test itself)
  clang-14 libclang-rt-14-dev  # libFuzzer and its sanitizers: scripts/fuzz.sh, run by .ci/run
  slurm-wlm munge              # a real one-node Slurm for the array test (started by the test itself)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libtorch calls the generic libblas.so.3; point the alternative at OpenBLAS when it is not already.
arch_dir=/usr/lib/x86_64-linux-gnu
if command -v update-alternatives >/dev/null && [ -e "$arch_dir/openblas-pthread/libblas.so.3" ]; then
  current=$(update-alternatives --query "libblas.so.3-x86_64-linux-gnu" 2>/dev/null | awk '/^Value:/{print $2}')
  if [ "$current" != "$arch_dir/openblas-pthread/libblas.so.3" ]; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd update-alternatives --set "libblas.so.3-x86_64-linux-gnu" "$arch_dir/openblas-pthread/libblas.so.3" || true
    $sudo_cmd update-alternatives --set "liblapack.so.3-x86_64-linux-gnu" "$arch_dir/openblas-pthread/liblapack.so.3" || true
  fi
fi

if [ "${1:-}" != "--no-build" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  # Two parallel jobs: compiling torch/ITK translation units takes about 1.5 GB each.
  cmake --build build -j "$(nproc)"
fi
