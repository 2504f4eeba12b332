#!/usr/bin/env bash
# Remove what installer/install.sh put under a prefix (default ~/.local).
# The defect log, its images and the station's settings stay: they are the plant's data.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="$HOME/.local"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift 2 ;;
        *) echo "usage: $0 [--prefix DIR]" >&2; exit 2 ;;
    esac
done
source "$HERE/layout.sh"
rm -rf "$APP_DIR"
rm -f "$LAUNCHER" "$ENTRY" "$ICON_SVG" "$ICON_PNG"
refresh_icon_cache
echo "removed inspector from $PREFIX (the defect log and settings are kept)"
