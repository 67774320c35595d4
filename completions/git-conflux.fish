# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_git_conflux_global_optspecs
    string join \n C= color= v/verbose q/quiet h/help V/version
end

function __fish_git_conflux_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_git_conflux_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_git_conflux_using_subcommand
    set -l cmd (__fish_git_conflux_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c git-conflux -n "__fish_git_conflux_needs_command" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_needs_command" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_needs_command" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "init" -d 'Write a commented .conflux.yaml that uses the first agent found on PATH'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "status" -d 'Show every change: tasks done, state, dependencies, branch and worktree'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "start" -d 'Create a worktree per change and run the agent in each until its tasks are done'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "merge" -d 'Merge done changes into the base branch, in dependency order'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "logs" -d 'Print one change\'s log (agent output and conflux\'s own events)'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "stop" -d 'Stop a running `git conflux start` of this repository, or some of its changes, from another terminal'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "tell" -d 'Tell a change of the running `git conflux start` something, for its next iteration'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "clean" -d 'Remove the worktrees, branches, state and logs that git-conflux created'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "completions" -d 'Print a shell completion script (also shipped under completions/)'
complete -c git-conflux -n "__fish_git_conflux_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -l agent -d 'Use this agent preset instead of the first one found on PATH' -r
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -l force -d 'Overwrite an existing .conflux.yaml'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand init" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -l json -d 'Print a JSON array (schema in the man page) instead of a table'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -l ids -d 'Print only the change ids, one per line (for scripts and shell completion)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -s w -l watch -d 'Follow the running `git conflux start` from this terminal, drawn as `start` draws it (with --json: its event stream); ends when the run does'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand status" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -s j -l jobs -d 'How many agents run at once [config: jobs, default 4]' -r
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l agent -d 'Agent preset (claude, codex, gemini, opencode, aider) [config: agent]' -r
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l base -d 'Branch the changes start from and merge into [config: base, default: current branch]' -r
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l max-iterations -d 'Give up on a change after N agent iterations [config: max_iterations]' -r
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l sandbox -d 'Run the agents in bubblewrap (writing only their worktree) or not [config: sandbox]' -r -f -a "bwrap\t''
none\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l merge -d 'Merge each change into the base as soon as it is done (same as `git conflux merge`)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l dry-run -d 'Print the plan (waves, branches, worktrees, agent command) and change nothing'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l no-progress -d 'Plain timestamped lines instead of progress bars, even on a terminal'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -l json -d 'One JSON object per event on stdout, for scripts'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand start" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l all -d 'Merge every done change'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l no-ff -d 'Always create a merge commit'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l squash -d 'Make one commit with the change\'s work, with only the base as parent'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l keep -d 'Keep the worktree and branch after merging'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l with-deps -d 'Also merge the changes\' unmerged dependencies first'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l force -d 'Merge even when the change is not done (open tasks, failed verify)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l resolve -d 'On conflicts, merge the base into the change\'s worktree, have its agent resolve the conflicts (then verify), commit, and merge again'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l dry-run -d 'Say what would be merged and change nothing'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -l json -d 'Print the result as JSON'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand merge" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand logs" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand logs" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand logs" -s f -l follow -d 'Keep printing as the log grows, until the change finishes'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand logs" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand logs" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand logs" -s h -l help -d 'Print help'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand logs" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand stop" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand stop" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand stop" -l now -d 'Kill the agents at once, without the grace period'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand stop" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand stop" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand stop" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -s F -l file -d 'Read the message from a file (`-` for standard input)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -l now -d 'End the current iteration now (gracefully) and start the next with the message'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand tell" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -l merged -d 'Only merged changes (the default when no ids are given)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -l failed -d 'Only failed, stalled and skipped changes'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -l all -d 'Every change conflux knows about'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -l force -d 'Remove even uncommitted work and unmerged branches'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -l dry-run -d 'Say what would be removed and change nothing'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand clean" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand completions" -s C -d 'Run as if started in <PATH> (like `git -C`)' -r -F
complete -c git-conflux -n "__fish_git_conflux_using_subcommand completions" -l color -d 'When to use colours: auto (a terminal without NO_COLOR), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-conflux -n "__fish_git_conflux_using_subcommand completions" -s v -l verbose -d 'More detail (tasks in `status`, debug logging with -vv)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand completions" -s q -l quiet -d 'Only errors and the data asked for'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand completions" -s h -l help -d 'Print help'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand completions" -s V -l version -d 'Print version'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "init" -d 'Write a commented .conflux.yaml that uses the first agent found on PATH'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "status" -d 'Show every change: tasks done, state, dependencies, branch and worktree'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "start" -d 'Create a worktree per change and run the agent in each until its tasks are done'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "merge" -d 'Merge done changes into the base branch, in dependency order'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "logs" -d 'Print one change\'s log (agent output and conflux\'s own events)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "stop" -d 'Stop a running `git conflux start` of this repository, or some of its changes, from another terminal'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "tell" -d 'Tell a change of the running `git conflux start` something, for its next iteration'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "clean" -d 'Remove the worktrees, branches, state and logs that git-conflux created'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "completions" -d 'Print a shell completion script (also shipped under completions/)'
complete -c git-conflux -n "__fish_git_conflux_using_subcommand help; and not __fish_seen_subcommand_from init status start merge logs stop tell clean completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

# Change ids for start, merge, logs, status and clean.
complete -c git-conflux -n "__fish_seen_subcommand_from start merge logs status clean" -f -a "(git-conflux status --ids 2>/dev/null)"
