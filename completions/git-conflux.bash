# bash completion for git-conflux (`git conflux completions bash`)

# Fills COMPREPLY with the candidates for the words after `git-conflux` / `git conflux`.
_git_conflux_complete() {
    local cur="${!#}" out
    out="$(git-conflux __complete -- "$@" 2>/dev/null)"
    case "$out" in
    :dirs) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    :files) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    *) mapfile -t COMPREPLY <<<"$out"; [ -n "$out" ] || COMPREPLY=() ;;
    esac
}

# `git-conflux <TAB>`
_git_conflux_bin() {
    _git_conflux_complete "${COMP_WORDS[@]:1:COMP_CWORD}"
}

# `git conflux <TAB>`: git's completion calls this with `words` and `cword` set.
_git_conflux() {
    local i=1
    while [ "$i" -lt "$cword" ] && [ "${words[i]}" != conflux ]; do i=$((i + 1)); done
    _git_conflux_complete "${words[@]:i+1:cword-i}"
}

complete -F _git_conflux_bin git-conflux
