#!/usr/bin/env bash
# Jetson's CPU, emulated: install edgeseg's base package into an arm64 Debian rootfs (debootstrap +
# qemu-user-static), build its C kernels there with aarch64 gcc, run the kernel tests (exact agreement and
# hypothesis fuzzing against the NumPy references) under emulation, then run one W and one R operating point
# over a few CamVid val frames (resized here to the network's input size: OpenCV's own aarch64 resize rounds
# otherwise, measured apart as opencv.linear_upscale_values_equal) with a bundle exported on this host, and compare
# the labels with the same runs here.
#
#   bash scripts/aarch64_check.sh [--json FILE] [--frames N]
#
# Writes a JSON summary (arch, versions, kernel_tests {passed, failed}, agreement {point: fraction of pixels
# equal to the host's run}) and exits 1 when a kernel test fails or an agreement is below 99.9%. Where binfmt
# cannot be registered, or Debian's or PyPI's packages cannot be reached, it says so in one line and exits 0
# with "skipped": reason in the JSON. The rootfs and its virtual environment are cached under
# ${EDGESEG_CACHE:-~/.cache/edgeseg}/aarch64 between runs. Needs root (chroot, mounts) and, on the host,
# edgeseg with the export extra (PYTHON, default python3) and the data in $EDGESEG_DATA or ../shared/data.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
json="$root/aarch64_check.json"
frames=6
while [ $# -gt 0 ]; do
    case "$1" in
        --json) json="$2"; shift 2 ;;
        --frames) frames="$2"; shift 2 ;;
        *) echo "usage: $0 [--json FILE] [--frames N]" >&2; exit 2 ;;
    esac
done
python="${PYTHON:-python3}"
cache="${EDGESEG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeseg}/aarch64"
rootfs="$cache/rootfs-bookworm-arm64"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d)"
mounted=()

cleanup() {
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

summary() {  # summary STATUS REASON: the JSON, from what the steps left in $work
    "$python" - "$json" "$1" "$2" "$work" <<'EOF'
import json, sys
from pathlib import Path
out, status, reason, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
doc = {"skipped": reason} if status == "skipped" else {}
for name in ("arch", "versions", "kernel_tests", "agreement", "opencv"):
    f = work / f"{name}.json"
    if f.is_file():
        doc[name] = json.loads(f.read_text())
if status == "failed":
    doc["failed"] = reason
doc["passed"] = status == "passed"
Path(out).write_text(json.dumps(doc, indent=2) + "\n")
EOF
}

skip() {  # the check cannot run here (privileges, network): said, and not a failure
    echo "aarch64 check skipped: $1"
    summary skipped "$1"
    exit 0
}

fail() {  # edgeseg does not work on aarch64, or the host side is broken: a failure
    echo "aarch64 check FAILED: $1"
    summary failed "$1"
    exit 1
}

in_arm() {  # run a shell command inside the arm64 rootfs, with a clean environment
    chroot "$rootfs" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 /bin/sh -c "$1"
}

# --- 1. tools and binfmt ------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (chroot and mounts)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (apt install debootstrap qemu-user-static binfmt-support)"
command -v qemu-aarch64-static >/dev/null || skip "qemu-user-static is not installed (apt install qemu-user-static binfmt-support)"
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || skip "binfmt_misc cannot register qemu-aarch64 on this machine (a container without that privilege?)"

# --- 2. the arm64 rootfs (cached) -----------------------------------------------------------------------------
if [ ! -e "$rootfs/.complete" ]; then
    echo "building an arm64 Debian bookworm rootfs in $rootfs (once; a few minutes)"
    mkdir -p "$cache"
    rm -rf --one-file-system "$rootfs.partial"
    debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates \
        bookworm "$rootfs.partial" "$mirror" >"$cache/debootstrap.log" 2>&1 \
        || skip "debootstrap of arm64 bookworm failed (Debian's packages unreachable?); log: $cache/debootstrap.log"
    touch "$rootfs.partial/.complete"
    rm -rf --one-file-system "$rootfs"
    mv "$rootfs.partial" "$rootfs"
fi
# Not /sys: under qemu-user, ONNX Runtime's cpuinfo reads the host's x86 CPU list there and crashes; without
# it, it warns that it cannot read the CPU list and runs.
for m in proc dev; do
    mkdir -p "$rootfs/$m"
    if [ "$m" = proc ]; then mount -t proc proc "$rootfs/proc"; else mount --bind /dev "$rootfs/dev"; fi || skip "cannot mount /$m into the rootfs"
    mounted+=("$rootfs/$m")
done
cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt" 2>/dev/null  # the host's trust (proxies)

# --- 3. edgeseg's base package from a clean source tree, built there ----------------------------------------
rm -rf "$rootfs/src" "$rootfs/work"
mkdir -p "$rootfs/src" "$rootfs/work"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$rootfs/src") || skip "cannot copy the source tree (not a git checkout?)"
if [ ! -x "$rootfs/opt/venv/bin/python" ]; then
    in_arm "python3 -m venv /opt/venv" >/dev/null || skip "python3 -m venv failed in the arm64 rootfs"
fi
echo "installing edgeseg into the arm64 rootfs (emulated; the C kernels are built with aarch64 gcc)"
in_arm "pip install -q pytest hypothesis && pip install -q --force-reinstall --no-cache-dir /src" >"$work/pip.log" 2>&1 \
    || skip "pip install in the arm64 rootfs failed (PyPI unreachable?): $(tail -1 "$work/pip.log")"
in_arm "cd /work && python -c 'import json, platform, numpy, cv2, onnxruntime, edgeseg.runtime.motion.kernels as k
json.dump(platform.machine(), open(\"arch.json\", \"w\"))
json.dump({\"python\": platform.python_version(), \"numpy\": numpy.__version__, \"opencv\": cv2.__version__,
           \"onnxruntime\": onnxruntime.__version__, \"kernels\": k.BACKEND}, open(\"versions.json\", \"w\"))'" \
    2>"$work/import.log" || fail "edgeseg does not import on aarch64: $(tail -1 "$work/import.log")"
cp "$rootfs/work/arch.json" "$rootfs/work/versions.json" "$work/"
[ "$(cat "$work/arch.json")" = '"aarch64"' ] || skip "the rootfs does not run as aarch64"
grep -q '"kernels": "c"' "$work/versions.json" || fail "the C kernels were not built for aarch64 (see $work/pip.log)"

# --- 4. the kernel tests under emulation -------------------------------------------------------------------
echo "running the C kernel tests under emulation"
# from /work, a copy of the tests: run from /src, Python would import the unbuilt source tree, not the package
cp -r "$rootfs/src/tests" "$rootfs/work/tests"
in_arm "cd /work && python -m pytest -q -p no:cacheprovider tests/runtime/motion/test_kernels.py --junitxml=/work/kernels.xml" >"$work/kernels.log" 2>&1
"$python" - "$rootfs/work/kernels.xml" "$work/kernel_tests.json" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
try:
    suite = ET.parse(sys.argv[1]).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total, failed = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
    result = {"passed": total - failed - int(suite.get("skipped")), "failed": failed}
except (OSError, ET.ParseError, AttributeError, TypeError):
    result = {"passed": 0, "failed": 1, "note": "the test run produced no report"}
json.dump(result, open(sys.argv[2], "w"))
EOF
tail -1 "$work/kernels.log"

# --- 5. one W and one R operating point, here and there -----------------------------------------------------
data="${EDGESEG_DATA:-$root/../shared/data}"
if [ -d "$data/camvid/val" ]; then
    echo "exporting the default model (fp32, with the refiner) on this host"
    EDGESEG_DATA="$data" "$python" -m edgeseg export default --out "$rootfs/work/bundle" --heads refiner --no-progress \
        >"$work/export.log" 2>&1 || fail "the host export failed: $(tail -1 "$work/export.log")"
    # The frames go in at the network's input size, resized once here: from OpenCV 5.1 on, its aarch64 wheels
    # resize through a HAL (KleidiCV, carotene) whose bilinear upscaling rounds otherwise than x86 (a quarter of
    # the values off by one), which is OpenCV's difference, not edgeseg's. It is measured apart (opencv.json).
    rm -rf "$rootfs/work/frames" "$rootfs/work/resize_probe"
    "$python" - "$data/camvid/val" "$rootfs/work" "$frames" <<'EOF' || fail "the frames could not be prepared"
import json, sys
from pathlib import Path
import cv2
val, work, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
h, w = json.loads((work / "bundle" / "manifest.json").read_text())["input"]["size"]
for folder in ("frames", "resize_probe"):
    (work / folder).mkdir()
files = sorted(val.glob("*.png"))[:n]
for f in files:
    cv2.imwrite(str(work / "frames" / f.name), cv2.resize(cv2.imread(str(f)), (w, h), interpolation=cv2.INTER_LINEAR))
cv2.imwrite(str(work / "resize_probe" / "source.png"), cv2.imread(str(files[0])))
EOF
    probe="import cv2, json, sys; h, w = json.load(open(sys.argv[1]))['input']['size']; \
cv2.imwrite(sys.argv[3], cv2.resize(cv2.imread(sys.argv[2]), (w, h), interpolation=cv2.INTER_LINEAR))"
    "$python" -c "$probe" "$rootfs/work/bundle/manifest.json" "$rootfs/work/resize_probe/source.png" \
        "$rootfs/work/resize_probe/host.png" || fail "OpenCV's resize failed on this host"
    in_arm "cd /work/resize_probe && python -c \"$probe\" ../bundle/manifest.json source.png arm.png" \
        >"$work/resize_probe.log" 2>&1 || fail "OpenCV's resize does not run on aarch64: $(tail -1 "$work/resize_probe.log")"
    "$python" - "$rootfs/work/resize_probe" "$work/opencv.json" <<'EOF'
import json, sys
from pathlib import Path
import cv2
d = Path(sys.argv[1])
a, b = cv2.imread(str(d / "host.png")), cv2.imread(str(d / "arm.png"))
json.dump({"linear_upscale_values_equal": round(float((a == b).mean()), 6)}, open(sys.argv[2], "w"))
EOF
    for point in evs07 evs06; do
        "$python" -m edgeseg run --bundle "$rootfs/work/bundle" --profile "$point" --source "$rootfs/work/frames" \
            --sink "$work/host_$point" --backend onnxrt --quiet >/dev/null || fail "the host run of $point failed"
        echo "running $point under emulation"
        in_arm "cd /work && python -m edgeseg run --bundle bundle --profile $point --source frames --sink arm_$point --backend onnxrt --quiet" \
            >"$work/run_$point.log" 2>&1 || fail "$point does not run on aarch64: $(tail -1 "$work/run_$point.log")"
    done
    "$python" - "$work" "$rootfs/work" <<'EOF'
import json, sys
from pathlib import Path
import cv2, numpy as np
here, there = Path(sys.argv[1]), Path(sys.argv[2])
agreement = {}
for point in ("evs07", "evs06"):
    same = total = 0
    for f in sorted((here / f"host_{point}").glob("*.png")):
        a = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(there / f"arm_{point}" / f.name), cv2.IMREAD_UNCHANGED)
        same += int((a == b).sum()) if b is not None and b.shape == a.shape else 0
        total += a.size
    agreement[point] = round(same / total, 6) if total else 0.0
json.dump(agreement, open(here / "agreement.json", "w"))
EOF
else
    echo "no CamVid val under $data: the operating points are not compared"
fi

# --- 6. verdict -----------------------------------------------------------------------------------------------
verdict="$("$python" - "$work" <<'EOF'
import json, sys
from pathlib import Path
w = Path(sys.argv[1])
k = json.loads((w / "kernel_tests.json").read_text())
a = json.loads((w / "agreement.json").read_text()) if (w / "agreement.json").is_file() else {}
problems = ([f"{k['failed']} kernel test(s) failed"] if k["failed"] or not k["passed"] else []) + \
           [f"{p} agreement {v:.4%} < 99.9%" for p, v in a.items() if v < 0.999]
print("; ".join(problems))
EOF
)"
[ -z "$verdict" ] || fail "$verdict (see $json)"
summary passed ""
echo "aarch64 check passed: $(cat "$work/kernel_tests.json"); agreement $(cat "$work/agreement.json" 2>/dev/null || echo '{}')"
