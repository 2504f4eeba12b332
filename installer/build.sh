#!/usr/bin/env bash
# Build the one-folder bundle (installer/dist/inspector/) and smoke-test it.
#
#   installer/build.sh            build in installer/build/venv, then run the smoke tests
#   installer/build.sh --check    only smoke-test an existing bundle
#
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu installer/build.sh builds with CPU-only torch
# (much smaller; see installer/README.md). PYTHON picks the interpreter (default: python3).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/build/venv"
DIST="$HERE/dist"
BUNDLE="$DIST/inspector"

build() {
    local started=$SECONDS
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
        "$VENV/bin/pip" install -q torch torchvision --index-url "$TORCH_INDEX_URL"
    fi
    "$VENV/bin/pip" install -q "$ROOT[installer]"
    rm -rf "$BUNDLE"
    "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
        --workpath "$HERE/build/pyinstaller" --distpath "$DIST" "$HERE/inspector.spec"
    echo "built $BUNDLE in $((SECONDS - started)) s, $(du -sh "$BUNDLE" | cut -f1)"
}

# The frozen app on the demo line, without a screen and without the build's Python on PATH.
smoke() {
    local scratch
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' RETURN
    local run=(env -i "HOME=$scratch" "PATH=/usr/bin:/bin" "LANG=C.UTF-8" "QT_QPA_PLATFORM=offscreen"
        "XDG_RUNTIME_DIR=$scratch")

    echo "smoke: the window, 12 s on the demo line"
    "${run[@]}" "$BUNDLE/inspector" --exit-after 12 --screenshot "$scratch/station.png" --db "$scratch/window.sqlite"
    [[ -s "$scratch/station.png" ]] || { echo "smoke: no screenshot was saved" >&2; return 1; }
    cp "$scratch/station.png" "$DIST/smoke-station.png"

    echo "smoke: the headless line, 60 frames"
    "${run[@]}" "$BUNDLE/inspector" run --headless --frames 60 --db "$scratch/line.sqlite" --json \
        >"$scratch/line.json"
    grep -q '"frames": 60' "$scratch/line.json" || { echo "smoke: headless run did not report 60 frames" >&2; cat "$scratch/line.json" >&2; return 1; }

    echo "smoke: the headless line compiled by OpenVINO on the CPU, 60 frames"
    "${run[@]}" "$BUNDLE/inspector" run --headless --frames 60 --device cpu --backend compiled \
        --db "$scratch/line.sqlite" --json >"$scratch/openvino.json"
    grep -q '"backend": "compiled (openvino' "$scratch/openvino.json" || { echo "smoke: the openvino mode did not run" >&2; cat "$scratch/openvino.json" >&2; return 1; }

    echo "smoke: install under a scratch prefix, launch the desktop entry's command, uninstall"
    "$HERE/install.sh" --prefix "$scratch/prefix" --bundle "$BUNDLE" >/dev/null
    local entry="$scratch/prefix/share/applications/inspector.desktop"
    local exec_line
    exec_line="$(sed -n 's/^Exec=//p' "$entry")"
    "${run[@]}" $exec_line --exit-after 6 --db "$scratch/entry.sqlite"
    "$HERE/uninstall.sh" --prefix "$scratch/prefix" >/dev/null
    if [[ -n "$(find "$scratch/prefix" -type f -o -type l)" ]]; then
        echo "smoke: uninstall left files behind" >&2
        find "$scratch/prefix" -type f -o -type l >&2
        return 1
    fi
    echo "smoke: passed"
}

case "${1:-}" in
    --check) smoke ;;
    "") build && smoke ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
