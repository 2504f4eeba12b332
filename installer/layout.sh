# Where install.sh puts the station under $PREFIX, and what uninstall.sh removes; sourced by both.
APP_DIR="$PREFIX/lib/inspector"
LAUNCHER="$PREFIX/bin/inspector"
ENTRY="$PREFIX/share/applications/inspector.desktop"
ICONS="$PREFIX/share/icons/hicolor"
ICON_SVG="$ICONS/scalable/apps/inspector.svg"
ICON_PNG="$ICONS/256x256/apps/inspector.png"

# A theme that has an icon cache must have it refreshed, or the menu shows no icon; one without is scanned.
refresh_icon_cache() {
    if [[ -f "$ICONS/index.theme" ]] && command -v gtk-update-icon-cache >/dev/null; then
        gtk-update-icon-cache -q "$ICONS" || true
    fi
}
