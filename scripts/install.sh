#!/bin/sh
# Installs git-conflux for this user, so that `git conflux`, `git conflux --help` and <TAB>
# work right after it, with no MANPATH or shell setup:
#   - the binary with `cargo install` into $CARGO_HOME/bin (~/.cargo/bin);
#   - the man pages into $CARGO_HOME/share/man/man1: man-db looks in <dir>/../share/man for
#     every <dir> on PATH, so `git help conflux` finds them beside the binary;
#   - bash completion into ${XDG_DATA_HOME:-~/.local/share}/bash-completion/completions,
#     which bash-completion loads for `git-conflux <TAB>` and, through git's own completion,
#     for `git conflux <TAB>`;
#   - fish completion into ${XDG_CONFIG_HOME:-~/.config}/fish/completions;
#   - zsh completion into ~/.zfunc (the line to add to ~/.zshrc is printed when missing).
#
#   scripts/install.sh [--bin FILE]    --bin: install this built binary instead of building
set -eu
cd "$(dirname "$0")/.."
cargo_home=${CARGO_HOME:-$HOME/.cargo}
data=${XDG_DATA_HOME:-$HOME/.local/share}
config=${XDG_CONFIG_HOME:-$HOME/.config}

if [ "${1:-}" = "--bin" ]; then
    [ -x "${2:-}" ] || { echo "error: --bin needs an executable git-conflux" >&2; exit 2; }
    mkdir -p "$cargo_home/bin"
    cp "$2" "$cargo_home/bin/git-conflux.tmp"
    mv "$cargo_home/bin/git-conflux.tmp" "$cargo_home/bin/git-conflux"
elif [ $# -gt 0 ]; then
    echo "error: unknown argument '$1'" >&2
    echo "hint: scripts/install.sh [--bin FILE]" >&2
    exit 2
else
    cargo install --locked --path .
fi

# Copies $1 to $2 through a temporary file, so a reader never sees half a file.
put() {
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2.tmp"
    mv "$2.tmp" "$2"
}

for page in man/man1/*.1; do
    put "$page" "$cargo_home/share/man/man1/$(basename "$page")"
done
put completions/git-conflux.bash "$data/bash-completion/completions/git-conflux"
put completions/git-conflux.fish "$config/fish/completions/git-conflux.fish"
put completions/_git-conflux "$HOME/.zfunc/_git-conflux"

echo "installed git-conflux into $cargo_home/bin, its man pages into $cargo_home/share/man"
echo "and its completions for bash, zsh and fish"
case ":$PATH:" in
*":$cargo_home/bin:"*) ;;
*) echo "note: add $cargo_home/bin to PATH (man pages are found through it too)" ;;
esac
if ! grep -qs 'zfunc' "${ZDOTDIR:-$HOME}/.zshrc"; then
    echo "note: for zsh, add before compinit in ~/.zshrc: fpath=(~/.zfunc \$fpath)"
fi
