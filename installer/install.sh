#!/usr/bin/env bash
# Install the bundle under a prefix and register its desktop entry and icon.
#
#   installer/install.sh                              for this user, under ~/.local
#   sudo installer/install.sh --prefix /usr/local     for every user of the PC
#
# --bundle DIR installs another bundle than installer/dist/inspector. installer/uninstall.sh undoes it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="$HOME/.local"
BUNDLE="$HERE/dist/inspector"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift 2 ;;
        --bundle) BUNDLE="$2"; shift 2 ;;
        *) echo "usage: $0 [--prefix DIR] [--bundle DIR]" >&2; exit 2 ;;
    esac
done
if [[ ! -x "$BUNDLE/inspector" ]]; then
    echo "no bundle at $BUNDLE: run installer/build.sh first" >&2
    exit 2
fi
mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"
source "$HERE/layout.sh"

rm -rf "$APP_DIR"
mkdir -p "$(dirname "$APP_DIR")" "$(dirname "$LAUNCHER")" "$(dirname "$ENTRY")" \
    "$(dirname "$ICON_SVG")" "$(dirname "$ICON_PNG")"
cp -a "$BUNDLE" "$APP_DIR"
ln -sfn "$APP_DIR/inspector" "$LAUNCHER"
install -m 644 "$BUNDLE/_internal/resources/icons/inspector.svg" "$ICON_SVG"
install -m 644 "$BUNDLE/_internal/resources/icons/inspector.png" "$ICON_PNG"
sed "s|@BINARY@|$APP_DIR/inspector|g" "$HERE/inspector.desktop.in" >"$ENTRY"
chmod 644 "$ENTRY"
refresh_icon_cache
echo "installed $APP_DIR; command $LAUNCHER; menu entry $ENTRY"
