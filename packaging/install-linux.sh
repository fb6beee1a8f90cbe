#!/bin/sh
# Install the built Glassmind bundle for the current user, with desktop integration.
#
#   packaging/install-linux.sh              install dist/Glassmind (build it first: make package)
#   packaging/install-linux.sh --uninstall  remove everything this script installed
#
# Installs
#   ~/.local/opt/glassmind/                                  the bundle
#   ~/.local/bin/glassmind                                   a link to its executable
#   ~/.local/share/applications/io.github.glassmind.Glassmind.desktop
#   ~/.local/share/metainfo/io.github.glassmind.Glassmind.metainfo.xml
#   ~/.local/share/icons/hicolor/<size>/apps/io.github.glassmind.Glassmind.{png,svg}
# Honours XDG_DATA_HOME; set PREFIX to install somewhere other than ~/.local.
set -eu

APP_ID=io.github.glassmind.Glassmind
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PREFIX=${PREFIX:-$HOME/.local}
DATA=${XDG_DATA_HOME:-$PREFIX/share}
OPT=$PREFIX/opt/glassmind
BIN=$PREFIX/bin
BUNDLE=${BUNDLE:-$ROOT/dist/Glassmind}

refresh_caches() {
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t -f "$DATA/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -rf "$OPT"
    rm -f "$BIN/glassmind" "$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml"
    find "$DATA/icons/hicolor" -name "$APP_ID.*" -delete 2>/dev/null || true
    refresh_caches
    echo "Glassmind removed (your chats and memories in ~/.local/share/Glassmind are kept)."
    exit 0
fi

if [ ! -x "$BUNDLE/glassmind" ]; then
    echo "install-linux.sh: no bundle at $BUNDLE; build it first with 'make package'." >&2
    exit 1
fi

echo "==> Copying the bundle to $OPT"
mkdir -p "$PREFIX/opt" "$BIN"
rm -rf "$OPT.new"
cp -a "$BUNDLE" "$OPT.new"
rm -rf "$OPT"
mv "$OPT.new" "$OPT"
ln -sf "$OPT/glassmind" "$BIN/glassmind"

echo "==> Installing the desktop entry, AppStream metadata and icons into $DATA"
mkdir -p "$DATA/applications" "$DATA/metainfo"
# Point Exec/TryExec at the installed binary so the launcher works even when ~/.local/bin is not on PATH.
sed -e "s|^Exec=glassmind|Exec=$OPT/glassmind|" -e "s|^TryExec=glassmind|TryExec=$OPT/glassmind|" \
    "$HERE/linux/$APP_ID.desktop" > "$DATA/applications/$APP_ID.desktop"
chmod 644 "$DATA/applications/$APP_ID.desktop"
cp "$HERE/linux/$APP_ID.metainfo.xml" "$DATA/metainfo/"
for dir in "$HERE"/icons/hicolor/*/apps; do
    size=$(basename "$(dirname "$dir")")
    mkdir -p "$DATA/icons/hicolor/$size/apps"
    cp "$dir"/$APP_ID.* "$DATA/icons/hicolor/$size/apps/"
done
refresh_caches

case ":$PATH:" in
    *":$BIN:"*) ;;
    *) echo "Note: $BIN is not on your PATH; add it to run 'glassmind' from a terminal." ;;
esac
if command -v ldconfig >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libxcb-cursor.so.0; then
    echo "Note: Qt needs libxcb-cursor0 on X11 desktops: sudo apt install libxcb-cursor0 (Debian/Ubuntu)."
fi
echo "Glassmind installed: find it in your applications menu, or run 'glassmind'."
