//! The command line, defined once: the parser, `--help`, the man pages and the shell
//! completions are all generated from these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

/// Run AI coding agents on many spec-driven changes at once, each in its own git worktree.
///
/// git-conflux reads the changes written in the repository (OpenSpec `openspec/changes/<id>/`,
/// spec-kit `specs/NNN-name/`), creates one worktree and branch per change, runs your coding
/// agent in each until every task in its tasks.md is ticked and the verify command passes,
/// and merges the finished branches back.
#[derive(Debug, Parser)]
#[command(
    name = "git-conflux",
    bin_name = "git conflux",
    version,
    propagate_version = true
)]
#[command(after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Run `git conflux init` once, commit .conflux.yaml, then `git conflux start`.
Exit codes: 0 success; 1 some changes failed, stalled, were skipped or a merge was refused;
2 usage, configuration or preflight error; 3 merge conflicts; 4 a budget stopped changes
(over-budget; a higher budget continues them); 130 interrupted (run again to resume);
255 internal error.";

/// Listed apart from each command's own options, under their own heading (like git's and
/// cargo's help), so `git conflux start --help` shows start's options first.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Run as if started in <PATH> (like `git -C`).
    #[arg(short = 'C', value_name = "PATH", global = true, value_hint = ValueHint::DirPath)]
    pub directory: Option<PathBuf>,
    /// When to use colours: auto (a terminal without NO_COLOR), always or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// More detail (tasks in `status`, debug logging with -vv).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors and the data asked for.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(InitArgs),
    Status(StatusArgs),
    Start(StartArgs),
    Merge(MergeArgs),
    Logs(LogsArgs),
    Stop(StopArgs),
    Tell(TellArgs),
    Clean(CleanArgs),
    Config(ConfigArgs),
    Completions(CompletionsArgs),
    #[command(name = "__complete", hide = true)]
    Complete(CompleteArgs),
}

/// Write a commented .conflux.yaml that uses the first agent found on PATH.
///
/// Looks for claude, codex, gemini, opencode and aider, in that order. Refuses to overwrite an
/// existing file unless --force is given.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing .conflux.yaml.
    #[arg(long)]
    pub force: bool,
    /// Use this agent preset instead of the first one found on PATH.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

/// Show every change: tasks done, state, dependencies, branch and worktree.
///
/// Changes are listed in dependency order; below the table, the reason of each failed,
/// stalled, blocked or conflicted change (with the agent's own last error), one line each.
/// Works from any subdirectory and from inside a linked worktree, and never needs the run lock.
///
/// WORKTREE paths are relative to the current directory, so they paste as printed. A change
/// with no run recorded whose tasks are all ticked (merged, then cleaned) is `merged`. On a
/// terminal (or with COLUMNS set) the table is cut to its width, never wrapped: SOURCE is
/// left out first, then DEPENDS ON, BRANCH and WORKTREE are shortened (ending in `…`), then
/// TOKENS, COST, WORKTREE, BRANCH and DEPENDS ON are left out, then STATE and ID are shortened; the
/// reasons are cut too (`-v` and --json show them whole).
///
/// Exits 0 when the status is shown, even when a change folder or a state file cannot be read
/// (each is named in a warning on stderr); 2 when an ID is unknown or the changes cannot be
/// listed at all (a dependency cycle, not a repository).
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only these changes.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Print a JSON array (schema in the man page) instead of a table.
    #[arg(long, conflicts_with = "ids_only")]
    pub json: bool,
    /// Print only the change ids, one per line (for scripts and shell completion).
    #[arg(long = "ids")]
    pub ids_only: bool,
    /// Follow the running `git conflux start` from this terminal, drawn as `start` draws it
    /// (with --json: its event stream); ends when the run does.
    #[arg(short, long, conflicts_with = "ids_only")]
    pub watch: bool,
}

/// Create a worktree per change and run the agent in each until its tasks are done.
///
/// Without ids: every change whose tasks are not all done. Changes run in dependency order,
/// at most --jobs at once; a dependent change starts from its dependencies' branches. Running
/// it again after an interruption resumes: worktrees and branches are reused, committed work
/// is kept, done changes are not re-run.
///
/// Progress goes to stderr (bars on a terminal, timestamped lines otherwise); the result (the
/// summary table and the next steps, the --json events, the --dry-run plan) to stdout, so
/// `start > run.log` keeps the summary. On a terminal (or with COLUMNS set) rows and the
/// summary are cut to its width, never wrapped: a progress row's message shrinks to nothing
/// first; the summary shortens REASON and BRANCH, then leaves out TOKENS, COST, ITERATIONS, BRANCH and
/// TIME (`logs` and --json keep every reason whole). The prompt of every iteration is kept
/// (`git conflux logs ID --prompt N`); `--dry-run ID…` prints the first one each would get.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Only these changes (and nothing else: their dependencies must be done or selected).
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// How many agents run at once [config: jobs, default 4].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Agent preset (claude, codex, gemini, opencode, aider) [config: agent].
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Branch the changes start from and merge into [config: base, default: current branch].
    #[arg(long, value_name = "BRANCH")]
    pub base: Option<String>,
    /// Give up on a change after N agent iterations [config: max_iterations].
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<u32>,
    /// Stop starting agent runs once the run has cost USD dollars, as the agents report it
    /// [config: run_budget.usd].
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Stop starting agent runs once the run has used N tokens (input, output and cache
    /// writes) [config: run_budget.tokens].
    #[arg(long, value_name = "N")]
    pub budget_tokens: Option<u64>,
    /// Run the agents in bubblewrap (writing only their worktree) or not [config: sandbox].
    #[arg(long, value_name = "KIND", value_parser = ["bwrap", "none"])]
    pub sandbox: Option<String>,
    /// Merge each change into the base as soon as it is done (same as `git conflux merge`).
    #[arg(long)]
    pub merge: bool,
    /// Print the plan (waves, branches, worktrees, agent command; with ids, the prompt each
    /// would be sent) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Plain timestamped lines instead of progress bars, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// One JSON object per event on stdout, for scripts (versioned; every kind and field is
    /// listed under JSON EVENTS in git-conflux-start(1)).
    #[arg(long)]
    pub json: bool,
}

/// Merge done changes into the base branch, in dependency order.
///
/// Fast-forwards when possible. Your checkout changes only as `git merge` would change it:
/// when local changes would be overwritten, nothing is changed. Conflicts are listed with
/// their paths and exit with code 3, leaving everything as it was; with --resolve (or
/// `merge: {resolve: agent}` in the configuration) the change's agent resolves them first.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The changes to merge.
    #[arg(value_name = "ID", required_unless_present = "all")]
    pub ids: Vec<String>,
    /// Merge every done change.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// Always create a merge commit.
    #[arg(long, conflicts_with = "squash")]
    pub no_ff: bool,
    /// Make one commit with the change's work, with only the base as parent.
    #[arg(long)]
    pub squash: bool,
    /// Keep the worktree and branch after merging.
    #[arg(long)]
    pub keep: bool,
    /// Also merge the changes' unmerged dependencies first.
    #[arg(long)]
    pub with_deps: bool,
    /// Merge even when the change is not done (open tasks, failed verify).
    #[arg(long)]
    pub force: bool,
    /// On conflicts, merge the base into the change's worktree, have its agent resolve the
    /// conflicts (then verify), commit, and merge again.
    #[arg(long)]
    pub resolve: bool,
    /// Say what would be merged and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Print one change's log (agent output and conflux's own events).
///
/// On a terminal the log goes through a pager, like git's: $GIT_PAGER, else $PAGER, else
/// `less -FRX` (an empty value or `cat` pages nothing); never when piped, never with --follow.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The change.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Keep printing as the log grows, until the change finishes.
    #[arg(short, long)]
    pub follow: bool,
    /// Print the prompt its agent was sent in iteration N (without N: the latest) instead.
    #[arg(long, value_name = "N", num_args = 0..=1, conflicts_with = "follow")]
    pub prompt: Option<Option<u32>>,
    /// Never page, even on a terminal.
    #[arg(long)]
    pub no_pager: bool,
}

/// Stop a running `git conflux start` of this repository, or some of its changes, from
/// another terminal.
///
/// Without ids, like Ctrl-C: the agents get SIGTERM, then SIGKILL after the grace period; work
/// in the worktrees is committed and the run can be resumed with `git conflux start`. With
/// ids, only those changes stop the same graceful way (state `cancelled`; a later `start`
/// resumes them) while the others run on.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Only these changes of the running start.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Kill the agents at once, without the grace period.
    #[arg(long, conflicts_with = "ids")]
    pub now: bool,
}

/// Tell a change of the running `git conflux start` something, for its next iteration.
///
/// The message is added to the prompt of the change's next agent iteration, recorded in its
/// log and shown by `status -v`. With --now, the current iteration ends gracefully (its work
/// is committed) and the next starts at once with the message.
#[derive(Debug, Args)]
pub struct TellArgs {
    /// The change.
    #[arg(value_name = "ID")]
    pub id: String,
    /// The message.
    #[arg(
        value_name = "MESSAGE",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub message: Option<String>,
    /// Read the message from a file (`-` for standard input).
    #[arg(short = 'F', long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: Option<PathBuf>,
    /// End the current iteration now (gracefully) and start the next with the message.
    #[arg(long)]
    pub now: bool,
}

/// Remove the worktrees, branches, state and logs that git-conflux created.
///
/// Only what conflux's own state records is removed, never anything else. Refuses when a
/// worktree holds uncommitted work or a branch is not merged, unless --force.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only these changes.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Only merged changes (the default when no ids are given).
    #[arg(long, group = "which")]
    pub merged: bool,
    /// Only failed, stalled and skipped changes.
    #[arg(long, group = "which")]
    pub failed: bool,
    /// Every change conflux knows about.
    #[arg(long, group = "which")]
    pub all: bool,
    /// Remove even uncommitted work and unmerged branches.
    #[arg(long)]
    pub force: bool,
    /// Say what would be removed and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Inspect the configuration without running anything.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    Check(ConfigCheckArgs),
}

/// Check every configuration layer: the user file, .conflux.yaml and the front matter of
/// every change.
///
/// Prints each file checked and every problem found (one per file: the first a file has),
/// then what `start` would refuse of the layers together (a missing agent binary, `claude` as
/// root without IS_SANDBOX=1, a sandbox that cannot run), without running or creating
/// anything. Exit 0 when all are valid, 2 otherwise.
#[derive(Debug, Args)]
pub struct ConfigCheckArgs {}

/// Print a shell completion script (also shipped under completions/).
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The words of a command line being completed, after the program's name (and after
/// `conflux` for `git conflux`), the last one the word under the cursor: what the shell
/// scripts of `completions` ask; one candidate per line comes back.
#[derive(Debug, Args)]
pub struct CompleteArgs {
    #[arg(allow_hyphen_values = true, trailing_var_arg = true, num_args = 0..)]
    pub words: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
