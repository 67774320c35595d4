//! The repository handle and the small queries on it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gix::ObjectId;

use super::env::RepoEnv;
use super::trash::Trash;
use super::{branch, open};

/// A git repository, cheap to clone and to share between threads.
///
/// Each method opens a thread-local view (`gix::Repository`) for its own work, so a `Repo`
/// can be handed to every pipeline task of a run.
#[derive(Clone)]
pub struct Repo {
    shared: Arc<gix::ThreadSafeRepository>,
    /// The object database handle (with its object cache) of the last merge, lent to the
    /// next one: merging N changes one after the other reads the same commits and trees.
    merge_objects: Arc<Mutex<Option<gix::OdbHandle>>>,
    /// Where removed worktrees are deleted in the background; the last clone waits for it.
    pub(crate) trash: Arc<Trash>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("git_dir", &self.shared.git_dir())
            .finish()
    }
}

impl Repo {
    /// Find the repository containing `start` (any subdirectory, or inside a linked worktree).
    pub fn discover(start: &Path) -> Result<Repo, open::Error> {
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
        let mut trust = gix::sec::trust::Mapping::<gix::open::Options>::default();
        trust.full = capped(trust.full);
        trust.reduced = capped(trust.reduced);
        match gix::ThreadSafeRepository::discover_opts(&start, Default::default(), trust) {
            Ok(shared) => Ok(Repo::new(shared)),
            Err(err)
                if err
                    .downcast_any_ref::<gix::discover::upwards::Error>()
                    .is_some() =>
            {
                Err(open::Error::NotARepository { path: start })
            }
            Err(source) => Err(open::Error::open(start, source)),
        }
    }

    /// The repository a command works on: the one `GIT_DIR` names when git's environment
    /// set it, else the one around `start`. A `GIT_WORK_TREE` that is not that repository's
    /// work tree is refused: changes, `.conflux.yaml` and merges live in its own.
    pub fn locate(start: &Path, env: &RepoEnv) -> Result<Repo, open::Error> {
        let repo = match &env.git_dir {
            Some(git_dir) => Repo::new(Self::open_shared(git_dir)?),
            None => Self::discover(start)?,
        };
        if let Some(work_tree) = &env.work_tree {
            let worktree = repo.worktree_root();
            if worktree.as_deref() != Some(absolute(work_tree).as_path()) {
                return Err(open::Error::ForeignWorkTree {
                    work_tree: work_tree.clone(),
                    git_dir: absolute(repo.local().git_dir()),
                    worktree,
                });
            }
        }
        Ok(repo)
    }

    fn new(shared: gix::ThreadSafeRepository) -> Repo {
        let trash = Trash::new(&absolute(shared.to_thread_local().common_dir()));
        Repo {
            shared: Arc::new(shared),
            merge_objects: Arc::default(),
            trash: Arc::new(trash),
        }
    }

    /// Open the repository whose (main or linked) worktree or git dir is exactly `path`.
    pub(crate) fn open_at(path: &Path) -> Result<gix::Repository, open::Error> {
        Self::open_shared(path).map(|shared| shared.to_thread_local())
    }

    fn open_shared(path: &Path) -> Result<gix::ThreadSafeRepository, open::Error> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        gix::ThreadSafeRepository::open_opts(&path, capped(gix::open::Options::default())).map_err(
            |source| {
                if source.dominant_class() == Some(gix::error::Class::NotFound) {
                    open::Error::NotARepository { path }
                } else {
                    open::Error::open(path, source)
                }
            },
        )
    }

    /// A thread-local view of the repository.
    pub(crate) fn local(&self) -> gix::Repository {
        self.shared.to_thread_local()
    }

    /// A thread-local view with the object cache the last merge filled (objects never
    /// change, so cached ones stay right); give it back with [`Repo::keep_merge_objects`].
    pub(crate) fn local_for_merge(&self) -> gix::Repository {
        let mut repo = self.local();
        if let Some(objects) = self
            .merge_objects
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
        {
            repo.objects = objects;
        }
        repo.object_cache_size_if_unset(64 * 1024 * 1024);
        repo
    }

    /// Keeps `repo`'s object cache for the next merge.
    pub(crate) fn keep_merge_objects(&self, repo: gix::Repository) {
        if let Ok(mut slot) = self.merge_objects.lock() {
            *slot = Some(repo.objects);
        }
    }

    /// The top level of the main worktree, even when discovered from a linked worktree;
    /// `None` for a bare repository.
    pub fn main_worktree_root(&self) -> Option<PathBuf> {
        let main = self.local().main_repo().ok()?;
        main.workdir().map(absolute)
    }

    /// The top level of the worktree we were discovered in; `None` for a bare repository.
    pub fn worktree_root(&self) -> Option<PathBuf> {
        self.local().workdir().map(absolute)
    }

    /// The directory shared by all worktrees (`git rev-parse --git-common-dir`), absolute.
    pub fn common_dir(&self) -> PathBuf {
        absolute(self.local().common_dir())
    }

    /// The short name of the branch checked out in the main worktree, where changes are
    /// merged; the same when discovered from a linked worktree. `None` when detached.
    pub fn main_branch(&self) -> Result<Option<String>, branch::Error> {
        let repo = self.local();
        let (head, _) = branch::head_file(repo.common_dir(), self.main_worktree_root().as_deref())?;
        Ok(head.and_then(|name| branch::short_local_name(&name)))
    }

    /// The commit the local branch `branch` points to, or `None` when there is no such branch.
    pub fn branch_tip(&self, branch: &str) -> Result<Option<ObjectId>, branch::Error> {
        branch::tip(&self.local(), &branch::full_name(branch)?)
    }

    /// Whether the branch's reflog shows that conflux created it.
    pub fn branch_created_by_conflux(&self, branch: &str) -> bool {
        branch::full_name(branch).is_ok_and(|name| branch::created_by_conflux(&self.local(), &name))
    }

    /// Whether `ancestor` is reachable from `of` (a commit is its own ancestor).
    pub fn is_ancestor(&self, ancestor: ObjectId, of: ObjectId) -> Result<bool, branch::Error> {
        branch::is_ancestor(&self.local(), ancestor, of)
    }
}

/// What one repository handle may keep of decoded pack objects (delta bases), unless the
/// repository sets `core.deltaBaseCacheLimit` itself. gix's default is git's, 96 MB per
/// handle; a run opens a handle per checkout and commit, several at once, and reads each
/// tree once, where a small cache serves as well (measured on a packed clone of tokio in
/// `scripts/bench/orchestrate.sh`). Worktrees created through a handle inherit the setting.
const PACK_CACHE_LIMIT: &str = "gitoxide.core.deltaBaseCacheLimit=8m";

/// `options` with the pack cache capped ([`PACK_CACHE_LIMIT`]).
fn capped(options: gix::open::Options) -> gix::open::Options {
    options.config_overrides([PACK_CACHE_LIMIT])
}

/// `path` made absolute and, when it exists, free of symlinks (so that paths compare equal to
/// what git prints).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}
