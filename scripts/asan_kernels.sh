#!/usr/bin/env bash
# Build edgeseg's C kernels with AddressSanitizer + UndefinedBehaviorSanitizer and run the kernel tests
# (exact-agreement and hypothesis fuzz tests with NaN/inf/huge flows, odd shapes and strides) against that build.
#
#   scripts/asan_kernels.sh [extra pytest args]
#
# The sanitized extension is built into a temporary copy of the package and tests, run from there so that
# it is imported instead of the installed one; libasan is preloaded because the Python interpreter itself is not sanitized. Leak checking is
# off (CPython keeps allocations alive at exit); any memory error or UB aborts the run with a report.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cc="${CC:-gcc}"
python="${PYTHON:-python}"
libasan="$("$cc" -print-file-name=libasan.so)"
[ -f "$libasan" ] || { echo "libasan not found for $cc (install gcc with sanitizers)"; exit 2; }
# libstdc++ preloaded after libasan: ASan's __cxa_throw interceptor needs it at start-up, and OpenCV (the tests compare
# with cv2.resize) throws and catches C++ exceptions internally; without it ASan aborts on OpenCV's first throw.
libstdcxx="$("$cc" -print-file-name=libstdc++.so)"
[ -f "$libstdcxx" ] && preload="$libasan $libstdcxx" || preload="$libasan"
include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
suffix="$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
cp -r "$root/edgeseg" "$root/tests" "$build/"  # tests too: pytest puts their root first on sys.path
find "$build/edgeseg" \( -name '*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
"$cc" -shared -fPIC -O1 -g -std=c99 -ffp-contract=off -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    -I"$include" "$root/edgeseg/runtime/motion/csrc/kernels.c" -o "$build/edgeseg/runtime/motion/_kernels$suffix" -lpthread
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$build"
LD_PRELOAD="$preload" "$python" -c 'import edgeseg.runtime.motion.kernels as k; print("sanitized kernels:", k._c.__file__)'
LD_PRELOAD="$preload" "$python" -m pytest -q -p no:cacheprovider --rootdir "$build" tests/runtime/motion/test_kernels.py "$@"
