//! One file per subcommand; each parses nothing itself and calls the core.

mod clean;
mod completions;
mod init;
mod logs;
mod merge;
mod start;
mod status;
mod stop;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::Config;
use crate::error::{CommandError, Exit};
use crate::git::Repo;
use crate::git::env::RepoEnv;
use crate::run::state::RunDir;
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
        Command::Clean(args) => clean::cmd_clean(&ctx, args),
        Command::Completions(args) => completions::cmd_completions(&ctx, args),
    }
}

/// What every command may need, found lazily: the repository, its configuration, the run dir.
pub struct Context {
    pub ui: Ui,
    pub cwd: PathBuf,
    /// `GIT_DIR`/`GIT_WORK_TREE` as git's environment gave them.
    repo_env: RepoEnv,
}

/// The repository a command works on, with the paths derived from it.
#[derive(Clone)]
pub struct Workspace {
    pub repo: Repo,
    /// The main worktree's top level: changes, `.conflux.yaml` and merges live here.
    pub root: PathBuf,
    pub run_dir: RunDir,
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
        let repo = Repo::locate(&self.cwd, &self.repo_env).map_err(|e| {
            let hint = match e {
                // The message says what to do with GIT_WORK_TREE.
                crate::git::open::Error::ForeignWorkTree { .. }
                | crate::git::open::Error::Sha256 { .. } => None,
                _ => {
                    Some("run git conflux inside a git repository, or point at one with -C <path>")
                }
            };
            let err = CommandError::from_error(Exit::Usage, e);
            match hint {
                Some(hint) => err.hint(hint),
                None => err,
            }
        })?;
        let root = repo.main_worktree_root().ok_or_else(|| {
            CommandError::usage(format!(
                "{} is a bare repository; git conflux needs a working tree",
                repo.common_dir().display()
            ))
        })?;
        let run_dir = RunDir::new(&repo.common_dir());
        Ok(Workspace {
            repo,
            root,
            run_dir,
        })
    }
}

impl Workspace {
    /// Defaults < user file < `.conflux.yaml` of the main worktree.
    pub fn config(&self) -> Result<Config, CommandError> {
        Config::load(&self.root).map_err(config_error)
    }
}

/// A configuration error: exit 2, with a hint naming what to fix.
pub fn config_error(e: crate::config::Error) -> CommandError {
    CommandError::from_error(Exit::Usage, e)
        .hint("fix the file named above; `git help conflux` lists every key")
}

/// A path shown relative to `base` when it lies under it.
pub fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}
