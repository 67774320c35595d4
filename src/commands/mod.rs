//! One file per subcommand; each parses nothing itself and calls the core.

mod clean;
mod complete;
mod completions;
mod config;
mod init;
mod logs;
mod merge;
mod start;
mod status;
mod stop;
mod tell;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::{CommandError, Exit};
use crate::git::env::RepoEnv;
use crate::run::workspace::Workspace;
use crate::ui::Ui;

/// Runs one parsed command line; the returned [`Exit`] is the process's exit code.
/// `repo_env` is what git's environment said about the repository ([`RepoEnv::take`]).
pub fn run(cli: Cli, repo_env: RepoEnv) -> Result<Exit, CommandError> {
    let ui = Ui::new(&cli.global);
    let ctx = Context::new(&cli.global, ui, repo_env)?;
    match cli.command {
        Command::Init(args) => init::cmd_init(&ctx, args),
        Command::Status(args) => status::cmd_status(&ctx, args),
        Command::Start(args) => start::cmd_start(&ctx, args),
        Command::Merge(args) => merge::cmd_merge(&ctx, args),
        Command::Logs(args) => logs::cmd_logs(&ctx, args),
        Command::Stop(args) => stop::cmd_stop(&ctx, args),
        Command::Tell(args) => tell::cmd_tell(&ctx, args),
        Command::Clean(args) => clean::cmd_clean(&ctx, args),
        Command::Config(args) => config::cmd_config(&ctx, args),
        Command::Complete(args) => complete::cmd_complete(&ctx, args),
        Command::Completions(args) => completions::cmd_completions(&ctx, args),
    }
}

/// What every command may need, found lazily: the repository, its configuration, the run dir.
pub(crate) struct Context {
    pub ui: Ui,
    pub cwd: PathBuf,
    /// `GIT_DIR`/`GIT_WORK_TREE` as git's environment gave them.
    repo_env: RepoEnv,
}

impl Context {
    fn new(global: &GlobalArgs, ui: Ui, repo_env: RepoEnv) -> Result<Context, CommandError> {
        let cwd = std::env::current_dir()
            .map_err(|e| CommandError::usage(format!("cannot read the current directory: {e}")))?;
        let cwd = match &global.directory {
            Some(dir) => {
                let dir = cwd.join(dir);
                if !dir.is_dir() {
                    return Err(CommandError::usage(format!(
                        "cannot change to '{}': no such directory",
                        dir.display()
                    )));
                }
                dir
            }
            None => cwd,
        };
        Ok(Context { ui, cwd, repo_env })
    }

    /// The repository `GIT_DIR` names, else the one around the working directory, or a
    /// preflight error saying so. Every command finds its repository here.
    pub fn workspace(&self) -> Result<Workspace, CommandError> {
        Ok(Workspace::open(&self.cwd, &self.repo_env)?)
    }
}

/// Sends `request` to the running `start` of this repository, printing its answer. Without
/// a running start: an error saying so (exit 1).
pub(crate) fn steer(
    ctx: &Context,
    ws: &Workspace,
    request: crate::run::control::Request,
) -> Result<Exit, CommandError> {
    use crate::run::control::{Error, Request, client};
    enum Kind {
        Add,
        Stop,
        Tell(String),
    }
    // An unknown id is a usage error whether or not a run is there to ask.
    let named: &[String] = match &request {
        Request::Stop { ids } => ids,
        Request::Tell { id, .. } => std::slice::from_ref(id),
        _ => &[],
    };
    if !named.is_empty() {
        crate::run::overview::overview(ws)?.check_ids(named)?;
    }
    let request_kind = match &request {
        Request::Add { .. } | Request::Subscribe => Kind::Add,
        Request::Stop { .. } => Kind::Stop,
        Request::Tell { id, .. } => Kind::Tell(id.clone()),
    };
    match client::request(&ws.run_dir, request) {
        Ok(reply) => {
            for line in &reply.lines {
                ctx.ui.note(line);
            }
            Ok(if reply.ok { Exit::Ok } else { Exit::Failed })
        }
        Err(Error::NoRun) => {
            let (not_done, hint) = match &request_kind {
                Kind::Add => (
                    "",
                    "run `git conflux start` again to start a run".to_owned(),
                ),
                Kind::Stop => (
                    ", so nothing was stopped",
                    "`git conflux status` shows where each change stands".to_owned(),
                ),
                Kind::Tell(id) => (
                    ", so the message was not queued",
                    format!(
                        "messages go to a running change: `git conflux start {id}`, then tell it"
                    ),
                ),
            };
            Err(CommandError::failed(format!(
                "no git conflux start is running in this repository{not_done}"
            ))
            .hint(hint))
        }
        Err(e) => Err(CommandError::from_error(Exit::Failed, e)),
    }
}

/// A path as it can be pasted in `cwd`: relative to it (`../repo.conflux/a`), or absolute
/// when they share nothing but the root.
pub(crate) fn display_path(path: &Path, cwd: &Path) -> String {
    use std::path::Component;
    let common = path
        .components()
        .zip(cwd.components())
        .take_while(|(a, b)| a == b)
        .count();
    let shares_more_than_root = path
        .components()
        .take(common)
        .any(|c| matches!(c, Component::Normal(_)));
    if !path.is_absolute() || !shares_more_than_root {
        return path.display().to_string();
    }
    let up = cwd.components().skip(common).map(|_| Component::ParentDir);
    let relative: PathBuf = up.chain(path.components().skip(common)).collect();
    if relative.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        relative.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::display_path;
    use std::path::Path;

    #[test]
    fn paths_are_shown_as_they_paste_in_the_working_directory() {
        let wt = Path::new("/home/u/repo.conflux/a");
        assert_eq!(
            display_path(wt, Path::new("/home/u/repo")),
            "../repo.conflux/a"
        );
        assert_eq!(
            display_path(wt, Path::new("/home/u/repo/sub/dir")),
            "../../../repo.conflux/a"
        );
        assert_eq!(display_path(wt, Path::new("/home/u/repo.conflux")), "a");
        assert_eq!(display_path(wt, wt), ".");
        assert_eq!(
            display_path(wt, Path::new("/srv")),
            "/home/u/repo.conflux/a"
        );
    }
}
