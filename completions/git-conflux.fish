# fish completion for git-conflux (`git conflux completions fish`)

function __git_conflux_complete
    set -l words (commandline -opc)
    # Drop everything up to the program: `git-conflux …` or `git … conflux …`.
    if test "$words[1]" = git
        set -l at (contains -i -- conflux $words)
        set words $words[(math $at + 1)..-1]
    else
        set -e words[1]
    end
    set -l cur (commandline -ct)
    set -l out (git-conflux __complete -- $words $cur 2>/dev/null)
    switch "$out"
        case :dirs
            __fish_complete_directories $cur
        case :files
            __fish_complete_path $cur
        case '*'
            printf '%s
' $out
    end
end

complete -c git-conflux -f -a '(__git_conflux_complete)'
complete -c git -n '__fish_seen_subcommand_from conflux' -f -a '(__git_conflux_complete)'
