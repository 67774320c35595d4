//! Linked worktrees: create (or reuse on resume), list, remove.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit};

use super::branch::{self, short_local_name};
use super::repo::absolute;
use super::{Repo, status};

/// What [`Repo::prepare_worktree`] should make: branch `branch` at `start`, checked out at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeSpec {
    /// The change id; it names the worktree's admin dir (`<common-dir>/worktrees/<id>`).
    pub id: String,
    /// Short name of the branch, like `conflux/<id>`.
    pub branch: String,
    /// Where the worktree goes, like `<worktree_root>/<id>`.
    pub path: PathBuf,
    /// Where a new branch starts; ignored when the branch exists already (its commits are kept).
    pub start: ObjectId,
}

/// A worktree ready for work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub path: PathBuf,
    pub branch: String,
    /// The commit checked out.
    pub head: ObjectId,
    /// `false` when an existing worktree was reused.
    pub created: bool,
    /// `true` when the branch was created now (at `head`), `false` when it existed.
    pub created_branch: bool,
    /// Submodules left uninitialised (empty directories), as `git worktree add` leaves them;
    /// run `git submodule update --init` in the worktree to populate them.
    pub uninitialized_submodules: Vec<PathBuf>,
}

/// One linked worktree, as `git worktree list --porcelain` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeInfo {
    /// The admin dir's name under `<common-dir>/worktrees/`.
    pub id: String,
    pub path: PathBuf,
    /// Short branch name; `None` when detached.
    pub branch: Option<String>,
    pub head: Option<ObjectId>,
    pub locked: bool,
    /// The folder is gone: `git worktree prune` would remove the registration.
    pub prunable: bool,
    /// Whether the worktree has uncommitted changes; `None` when its folder is gone.
    pub dirty: Option<bool>,
}

/// Errors of [`Repo::prepare_worktree`].
pub mod create {
    use std::path::PathBuf;

    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error(transparent)]
        Branch(#[from] crate::git::branch::Error),
        #[error("could not read the worktree registrations of the repository")]
        Inspect {
            #[source]
            source: gix::Error,
        },
        #[error(
            "branch {branch} is already checked out in {}; remove that worktree (`git worktree remove`) or switch it to another branch",
            worktree.display()
        )]
        CheckedOutElsewhere { branch: String, worktree: PathBuf },
        #[error(
            "the worktree at {} has {} checked out, not {expected}; remove it (`git worktree remove`) or choose another path",
            path.display(), actual.as_deref().unwrap_or("a detached HEAD")
        )]
        OtherBranch {
            path: PathBuf,
            expected: String,
            actual: Option<String>,
        },
        #[error(
            "the worktree registered for {} is locked but its folder is gone; run `git worktree unlock` and `git worktree prune`",
            path.display()
        )]
        LockedAndMissing { path: PathBuf },
        #[error(
            "{} exists and is not a worktree of this repository; move it away or delete it, then retry",
            path.display()
        )]
        PathInTheWay { path: PathBuf },
        #[error("could not remove the stale worktree registration {}", admin_dir.display())]
        Prune {
            admin_dir: PathBuf,
            #[source]
            source: std::io::Error,
        },
        #[error("could not create branch {branch}")]
        CreateBranch {
            branch: String,
            #[source]
            source: gix::Error,
        },
        #[error("could not check out branch {branch} into {} (nothing was left behind)", path.display())]
        Checkout {
            path: PathBuf,
            branch: String,
            #[source]
            source: gix::Error,
        },
    }
}

/// Errors of [`Repo::worktrees`].
pub mod list {
    use std::path::PathBuf;

    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error("could not read the worktree registrations of the repository")]
        Inspect {
            #[source]
            source: gix::Error,
        },
        #[error("could not check the worktree at {} for changes", path.display())]
        Status {
            path: PathBuf,
            #[source]
            source: crate::git::status::Error,
        },
    }
}

/// Errors of [`Repo::remove_worktree`].
pub mod remove {
    use std::path::PathBuf;

    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error("could not remove the worktree at {}", path.display())]
        Remove {
            path: PathBuf,
            #[source]
            source: gix::Error,
        },
        #[error("kept the worktree at {}: it has uncommitted changes or untracked files; commit or remove them, or remove it with force", path.display())]
        Dirty { path: PathBuf },
        #[error("kept the worktree at {}: it contains an initialised submodule; remove it with force", path.display())]
        Submodule { path: PathBuf },
        #[error("kept the worktree at {}: it is locked; unlock it with `git worktree unlock` first", path.display())]
        Locked { path: PathBuf },
        #[error("{} is not a worktree of this repository (its .git file does not link it to one); it was left as it is", path.display())]
        NotRegistered { path: PathBuf },
        #[error("could not remove {}", path.display())]
        Io {
            path: PathBuf,
            #[source]
            source: std::io::Error,
        },
    }
}

/// A registered linked worktree, read from its admin dir.
struct Registration {
    admin_dir: PathBuf,
    id: String,
    /// Absolute; may not exist.
    path: Option<PathBuf>,
    locked: bool,
    /// Its creation never finished (it still holds the `initializing` lock that creation
    /// writes first and removes last): a process died while checking it out.
    initializing: bool,
    prunable: bool,
    branch: Option<gix::refs::FullName>,
    /// The commit of a detached HEAD; a branch's tip is read only when asked
    /// ([`Registration::head`]), as a creation looks at one registration of N.
    detached: Option<ObjectId>,
}

impl Registration {
    /// The commit HEAD points to (`None` for a branch without commits, or an unreadable one).
    fn head(&self, repo: &gix::Repository) -> Option<ObjectId> {
        match &self.branch {
            Some(name) => branch::tip(repo, name).ok().flatten(),
            None => self.detached,
        }
    }
}

/// The registrations `wanted` picks, given each one's HEAD branch and registered folder as
/// written (not yet made absolute); only those are read in full (canonical path, lock,
/// prunable), so that a creation, which wants one or two of N, reads two small files of each.
fn registrations(
    repo: &gix::Repository,
    wanted: impl Fn(Option<&gix::refs::FullName>, Option<&Path>) -> bool,
) -> Result<Vec<Registration>, gix::Error> {
    let mut out = Vec::new();
    for proxy in repo.worktrees()? {
        let admin_dir = proxy.git_dir().to_owned();
        let base = proxy.base().ok();
        let (branch, detached) =
            branch::head_file(&admin_dir, base.as_deref()).unwrap_or((None, None));
        if !wanted(branch.as_ref(), base.as_deref()) {
            continue;
        }
        let id = proxy.id().map(|id| id.to_string()).unwrap_or_default();
        let path = base.map(|base| absolute(&base));
        let locked = proxy.is_locked();
        let initializing = std::fs::read_to_string(admin_dir.join("locked"))
            .is_ok_and(|reason| reason.trim() == "initializing");
        let prunable = proxy.is_prunable();
        out.push(Registration {
            admin_dir,
            id,
            path,
            locked,
            initializing,
            prunable,
            branch,
            detached,
        });
    }
    Ok(out)
}

/// Whether the registered folder `registered` (as written) may be `path` (absolute and
/// canonical) once made canonical too: same last name, or a symlink (which may lead there).
/// Cheap, so that only such candidates are canonicalised.
fn may_be_at(registered: &Path, path: &Path) -> bool {
    registered.file_name() == path.file_name()
        || registered
            .symlink_metadata()
            .is_ok_and(|meta| meta.file_type().is_symlink())
}

fn remove_dir_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether a folder holds nothing, or nothing but a `.git` file (a leftover link).
fn is_empty_or_only_git_link(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .all(|entry| entry.file_name() == ".git" && entry.path().is_file()),
        Err(_) => false,
    }
}

/// Worktree creations run side by side (shared), and a creation that failed runs again alone
/// (exclusive): see [`Repo::prepare_worktree`].
static CREATING: std::sync::RwLock<()> = std::sync::RwLock::new(());

impl Repo {
    /// Make (or, on resume, reuse) the worktree and branch of one change.
    ///
    /// * branch and worktree exist at `spec.path` with the branch checked out: reused as is
    ///   (`created: false`); nothing is touched.
    /// * a registration whose folder is gone (ours, or one holding our branch): pruned like
    ///   `git worktree prune`, then the worktree is created again on the existing branch.
    /// * the branch is checked out in another (existing) worktree: [`create::Error::CheckedOutElsewhere`].
    /// * an existing branch keeps its commits; `spec.start` only seeds a new branch.
    ///
    /// Creation writes what `git worktree add` writes (admin dir, `.git` file, index) and checks
    /// files out with gix's parallel checkout, applying `.gitattributes` (eol, filters: a
    /// required filter that cannot run fails the creation and nothing is left). Submodules
    /// are left uninitialised, as by `git worktree add`, and listed in the result. LFS pointer
    /// files are checked out as pointers unless the `lfs` filter driver is configured and
    /// `git-lfs` is on PATH, in which case gix runs it as git would.
    pub fn prepare_worktree(&self, spec: &WorktreeSpec) -> Result<Prepared, create::Error> {
        // A registration being written by a concurrent creation (its admin dir exists, its
        // `gitdir` file not yet) makes listing the registrations fail, before anything is
        // written. Such a failure is tried once more with no other creation running.
        let first = {
            let _shared = CREATING
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            self.prepare_worktree_once(spec)
        };
        match first {
            Err(
                create::Error::Checkout { .. }
                | create::Error::Inspect { .. }
                | create::Error::Branch(_),
            ) => {
                let _alone = CREATING
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                self.prepare_worktree_once(spec)
            }
            other => other,
        }
    }

    fn prepare_worktree_once(&self, spec: &WorktreeSpec) -> Result<Prepared, create::Error> {
        let repo = self.local();
        let name = branch::full_name(&spec.branch)?;
        let path = absolute(&spec.path);
        let inspect = |source| create::Error::Inspect { source };

        let ours = |branch: Option<&gix::refs::FullName>, registered: Option<&Path>| {
            branch == Some(&name) || registered.is_some_and(|r| may_be_at(r, &path))
        };
        for registration in registrations(&repo, ours).map_err(inspect)? {
            let at_our_path = registration.path.as_deref() == Some(path.as_path());
            let holds_our_branch = registration.branch.as_ref() == Some(&name);
            if !(at_our_path || holds_our_branch) {
                continue;
            }
            if registration.prunable || (registration.initializing && at_our_path) {
                // An interrupted creation of ours holds no work yet (the agent starts only
                // after creation): its half-checked-out folder goes with its registration.
                if registration.initializing
                    && let Some(path) = &registration.path
                {
                    remove_dir_if_exists(path).map_err(|source| create::Error::Prune {
                        admin_dir: path.clone(),
                        source,
                    })?;
                }
                std::fs::remove_dir_all(&registration.admin_dir).map_err(|source| {
                    create::Error::Prune {
                        admin_dir: registration.admin_dir.clone(),
                        source,
                    }
                })?;
                continue;
            }
            let Some(registered_path) = registration.path.clone() else {
                continue;
            };
            if registration.locked && !registered_path.exists() {
                return Err(create::Error::LockedAndMissing {
                    path: registered_path,
                });
            }
            if at_our_path && holds_our_branch {
                let head = branch::tip(&repo, &name)?
                    .or(registration.head(&repo))
                    .unwrap_or(spec.start);
                return Ok(Prepared {
                    path,
                    branch: spec.branch.clone(),
                    head,
                    created: false,
                    created_branch: false,
                    uninitialized_submodules: Vec::new(),
                });
            }
            if at_our_path {
                return Err(create::Error::OtherBranch {
                    path,
                    expected: spec.branch.clone(),
                    actual: registration.branch.as_ref().and_then(short_local_name),
                });
            }
            return Err(create::Error::CheckedOutElsewhere {
                branch: spec.branch.clone(),
                worktree: registered_path,
            });
        }
        // The linked worktrees were looked at above; the main one's HEAD is one file.
        let main = branch::main_checked_out(&repo)?;
        if main.branch.as_ref() == Some(&name) {
            return Err(create::Error::CheckedOutElsewhere {
                branch: spec.branch.clone(),
                worktree: main.workdir(&repo).unwrap_or_default(),
            });
        }
        if path.exists() {
            if !is_empty_or_only_git_link(&path) {
                return Err(create::Error::PathInTheWay { path });
            }
            let stale_link = path.join(".git");
            if stale_link.is_file() {
                std::fs::remove_file(&stale_link).map_err(|source| create::Error::Prune {
                    admin_dir: stale_link.clone(),
                    source,
                })?;
            }
        }

        let (tip, created_branch) = match branch::tip(&repo, &name)? {
            Some(tip) => (tip, false),
            None => {
                repo.reference(
                    name.clone(),
                    spec.start,
                    PreviousValue::MustNotExist,
                    format!(
                        "branch: Created from {} {}",
                        spec.start,
                        branch::CREATED_MARK
                    ),
                )
                .map_err(|source| create::Error::CreateBranch {
                    branch: spec.branch.clone(),
                    source,
                })?;
                (spec.start, true)
            }
        };
        let linked = match add_on_branch(&repo, &path, &name, tip) {
            Ok(added) => added,
            Err(source) => {
                if created_branch {
                    // Best effort: the branch was ours and holds nothing yet; leaving it would
                    // make a retry start from the old `start`. The checkout error is what matters.
                    let mut repo = repo;
                    let _ = repo.delete_local_branches([name]);
                }
                return Err(create::Error::Checkout {
                    path,
                    branch: spec.branch.clone(),
                    source,
                });
            }
        };
        let head = linked.head_id().map(|id| id.detach()).unwrap_or(spec.start);
        let uninitialized_submodules = match linked.index() {
            Ok(index) => index
                .entries()
                .iter()
                .filter(|entry| entry.mode == gix::index::entry::Mode::COMMIT)
                .map(|entry| PathBuf::from(entry.path(&index).to_string()))
                .collect(),
            Err(_) => Vec::new(),
        };
        Ok(Prepared {
            path,
            branch: spec.branch.clone(),
            head,
            created: true,
            created_branch,
            uninitialized_submodules,
        })
    }

    /// The linked worktrees (not the main one), like `git worktree list`.
    pub fn worktrees(&self) -> Result<Vec<WorktreeInfo>, list::Error> {
        let repo = self.local();
        let registrations =
            registrations(&repo, |_, _| true).map_err(|source| list::Error::Inspect { source })?;
        let mut out = Vec::with_capacity(registrations.len());
        for registration in registrations {
            let path = registration.path.clone().unwrap_or_default();
            let head = registration.head(&repo);
            let dirty = if registration.prunable || !path.is_dir() {
                None
            } else {
                Some(
                    status::is_dirty(&path).map_err(|source| list::Error::Status {
                        path: path.clone(),
                        source,
                    })?,
                )
            };
            out.push(WorktreeInfo {
                id: registration.id,
                path,
                branch: registration.branch.as_ref().and_then(short_local_name),
                head,
                locked: registration.locked,
                prunable: registration.prunable,
                dirty,
            });
        }
        Ok(out)
    }

    /// Remove the linked worktree at `path` (its folder and its admin dir).
    ///
    /// Without `force`, refuses when the worktree has uncommitted changes or untracked
    /// files, contains an initialised submodule, or is locked (like `git worktree remove`).
    /// With `force`, discards changes but still respects a lock. The branch stays: delete it
    /// with [`Repo::delete_branch`].
    ///
    /// The folder is moved into the repository's trash and deleted by a background thread
    /// (see `git::trash`); the registration goes at once, after the folder, so that a crash
    /// in between leaves a registration that `git worktree prune` (and the next `start`)
    /// removes, never a folder whose link leads nowhere.
    pub fn remove_worktree(&self, path: &Path, force: bool) -> Result<(), remove::Error> {
        let repo = self.local();
        let path = absolute(path);
        let failed = |source| remove::Error::Remove {
            path: path.clone(),
            source,
        };
        let exists = path.symlink_metadata().is_ok();
        let admin_dir = admin_dir_of(&repo, &path, exists)?;
        if admin_dir.join("locked").symlink_metadata().is_ok() {
            return Err(remove::Error::Locked { path });
        }
        if exists {
            if !force {
                if has_populated_submodule(&admin_dir, &path).map_err(failed)? {
                    return Err(remove::Error::Submodule { path });
                }
                // The one dirty check (`git status` would list something), not gix's.
                if status::is_dirty(&path).map_err(|e| failed(gix::Error::from_error(e)))? {
                    return Err(remove::Error::Dirty { path });
                }
            }
            self.trash
                .throw_away(&path)
                .map_err(|source| remove::Error::Io {
                    path: path.clone(),
                    source,
                })?;
        }
        remove_dir_if_exists(&admin_dir).map_err(|source| remove::Error::Io {
            path: admin_dir.clone(),
            source,
        })
    }
}

/// `repo.add_worktree` with HEAD on branch `name` (at `tip`), minus gix's check that no
/// other worktree has the branch checked out: that check opens every worktree as a
/// repository, O(N) opens per creation and most of `start`'s own CPU at 100 changes, and
/// [`Repo::prepare_worktree`] has made it already by reading the HEAD files. The worktree is
/// registered detached at `tip`, its HEAD is pointed at the branch, then it is checked out;
/// until the checkout finishes it is locked `initializing`, and a failure rolls it back.
///
/// The checkout goes through the new worktree opened again once its HEAD names the branch:
/// the registration's own handle was opened detached, without the configuration that
/// `[includeIf "onbranch:…"]` adds (filters, `core.autocrlf`), which `git worktree add -b`
/// applies. One open of the one new worktree, not of every worktree.
fn add_on_branch(
    repo: &gix::Repository,
    path: &Path,
    name: &gix::refs::FullName,
    tip: ObjectId,
) -> Result<gix::Repository, gix::Error> {
    let interrupt = AtomicBool::new(false);
    let prepared =
        repo.prepare_add_worktree(path, gix::worktree::add::Head::Detached(tip), &interrupt)?;
    let head = gix::refs::FullName::try_from("HEAD").map_err(gix::Error::from_error)?;
    prepared.repo().edit_reference(RefEdit {
        change: Change::Update {
            log: LogChange::default(),
            expected: PreviousValue::MustExistAndMatch(Target::Object(tip)),
            new: Target::Symbolic(name.clone()),
        },
        name: head,
        deref: false,
    })?;
    let mut linked = prepared.repo().clone();
    linked.reload()?;
    let worktree = linked
        .worktree()
        .ok_or_else(|| gix::Error::from_error(NotLinked(path.to_owned())))?;
    // A failure drops `prepared`, which rolls the registration and the folder back.
    worktree.checkout(gix::progress::Discard, &interrupt)?;
    prepared.persist()?;
    Ok(linked)
}

/// The worktree just registered opened as a repository without a worktree (never expected).
#[derive(Debug, thiserror::Error)]
#[error("the new worktree {} opened without a working tree", .0.display())]
struct NotLinked(PathBuf);

/// The admin dir (`<common-dir>/worktrees/<id>`) of the linked worktree at `path`
/// (absolute). A folder that is there must be a worktree of this repository: its `.git`
/// file names the admin dir, whose `gitdir` file names it back (one registration read, not
/// one per worktree). A folder that is gone is looked up among the registrations.
fn admin_dir_of(
    repo: &gix::Repository,
    path: &Path,
    exists: bool,
) -> Result<PathBuf, remove::Error> {
    let not_registered = || remove::Error::NotRegistered {
        path: path.to_owned(),
    };
    if exists {
        return linked_admin_dir(repo, path).ok_or_else(not_registered);
    }
    registrations(repo, |_, registered| {
        registered.is_some_and(|registered| may_be_at(registered, path))
    })
    .map_err(|source| remove::Error::Remove {
        path: path.to_owned(),
        source,
    })?
    .into_iter()
    .find(|registration| registration.path.as_deref() == Some(path))
    .map(|registration| registration.admin_dir)
    .ok_or_else(not_registered)
}

/// The admin dir that the `.git` file of the worktree folder `path` links to, when it is a
/// registration of `repo` that links back to `path`.
fn linked_admin_dir(repo: &gix::Repository, path: &Path) -> Option<PathBuf> {
    let dot_git = path.join(".git");
    let admin_dir = absolute(&gix::discover::path::from_gitdir_file(&dot_git).ok()?);
    let registrations = absolute(&repo.common_dir().join("worktrees"));
    if admin_dir.parent() != Some(registrations.as_path()) {
        return None;
    }
    let back = std::fs::read_to_string(admin_dir.join("gitdir")).ok()?;
    let back = admin_dir.join(back.trim_end_matches(['\n', '\r']));
    (absolute(&back) == dot_git).then_some(admin_dir)
}

/// Whether the linked worktree at `workdir`, registered at `admin_dir`, has a submodule
/// checked out (git refuses to remove such a worktree without force): a `modules` dir in its
/// admin dir, or a gitlink in its index whose folder has `.git`.
fn has_populated_submodule(admin_dir: &Path, workdir: &Path) -> Result<bool, gix::Error> {
    if admin_dir.join("modules").is_dir() {
        return Ok(true);
    }
    let index_path = admin_dir.join("index");
    if !index_path.exists() {
        return Ok(false);
    }
    let options = gix::index::decode::Options {
        thread_limit: Some(1),
        ..Default::default()
    };
    let index = gix::index::File::at(index_path, gix::hash::Kind::Sha1, false, options)
        .map_err(gix::Error::from_error)?;
    Ok(index
        .entries()
        .iter()
        .filter(|entry| entry.mode == gix::index::entry::Mode::COMMIT)
        .any(|entry| {
            gix::path::from_bstr(entry.path(&index))
                .is_ok_and(|rel| workdir.join(rel).join(".git").exists())
        }))
}
