//! The repository a run works on, with the paths derived from it: found once by a command,
//! then used by the overview, the plan, the scheduler and the merge path.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::git::Repo;
use crate::git::env::RepoEnv;
use crate::run::state::RunDir;

/// The repository a command works on, with the paths derived from it.
#[derive(Clone)]
pub struct Workspace {
    pub repo: Repo,
    /// The main worktree's top level: changes, `.conflux.yaml` and merges live here.
    pub root: PathBuf,
    pub run_dir: RunDir,
}

/// Why no workspace could be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Locate(#[from] crate::git::open::Error),
    #[error("{} is a bare repository; git conflux needs a working tree", common_dir.display())]
    Bare { common_dir: PathBuf },
}

impl Workspace {
    /// The repository `GIT_DIR` names, else the one around `cwd`.
    pub(crate) fn open(cwd: &Path, repo_env: &RepoEnv) -> Result<Workspace, Error> {
        let repo = Repo::locate(cwd, repo_env)?;
        let root = repo.main_worktree_root().ok_or_else(|| Error::Bare {
            common_dir: repo.common_dir(),
        })?;
        let run_dir = RunDir::new(&repo.common_dir());
        Ok(Workspace {
            repo,
            root,
            run_dir,
        })
    }

    /// Defaults < user file < `.conflux.yaml` of the main worktree.
    pub(crate) fn config(&self) -> Result<Config, crate::config::Error> {
        Config::load(&self.root)
    }

    /// `worktree_root` from the configuration (relative to the repository), else
    /// `<repository>.conflux/` beside the repository: outside it, so tools that search parent
    /// directories (cargo workspaces, node_modules) never mistake the main checkout for the
    /// worktree's.
    pub(crate) fn worktree_root(&self, config: &Config) -> PathBuf {
        match &config.worktree_root {
            Some(root) => self.root.join(root),
            None => {
                let name = self
                    .root
                    .file_name()
                    .map_or("repository".into(), |n| n.to_string_lossy().into_owned());
                self.root
                    .parent()
                    .unwrap_or(&self.root)
                    .join(format!("{name}.conflux"))
            }
        }
    }
}
