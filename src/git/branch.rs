//! Local branches: names, tips, ancestry, which worktree has which branch, deletion.

use std::path::PathBuf;

use gix::ObjectId;
use gix::refs::transaction::{PreviousValue, RefEdit};
use gix::refs::{FullName, Target};

use super::Repo;
use super::repo::absolute;

/// Why a branch query or edit failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name:?} is not a valid branch name; use letters, digits, '-', '_', '.' and '/'")]
    InvalidName {
        name: String,
        #[source]
        source: gix::validate::reference::name::Error,
    },
    #[error("could not read HEAD of the worktree at {}", worktree.display())]
    ReadHead {
        worktree: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("could not read branch {name}")]
    Read {
        name: String,
        #[source]
        source: gix::Error,
    },
    #[error("could not compare the history of commits {ancestor} and {of}")]
    Ancestry {
        ancestor: ObjectId,
        of: ObjectId,
        #[source]
        source: gix::Error,
    },
    #[error("could not list the worktrees to see where branches are checked out")]
    ListWorktrees {
        #[source]
        source: gix::Error,
    },
    #[error(
        "branch {name} (at {tip}) is not merged into any other branch; merge it first, or force the deletion to lose its commits"
    )]
    Unmerged { name: String, tip: ObjectId },
    #[error("branch {name} is checked out in {}; remove that worktree or switch it to another branch first", worktree.display())]
    CheckedOut { name: String, worktree: PathBuf },
    #[error("could not delete branch {name}")]
    Delete {
        name: String,
        #[source]
        source: gix::Error,
    },
}

/// `refs/heads/<branch>`, validated.
pub(crate) fn full_name(branch: &str) -> Result<FullName, Error> {
    FullName::try_from(format!("refs/heads/{branch}")).map_err(|source| Error::InvalidName {
        name: branch.to_owned(),
        source,
    })
}

/// Checks `branch` by git's rules for ref names (`git check-ref-format --branch`); the error
/// says which rule it breaks.
pub(crate) fn check_name(branch: &str) -> Result<(), Error> {
    full_name(branch).map(drop)
}

/// Ends the reflog message of every branch conflux creates, so that a branch can be known as
/// conflux's even when a crash came between creating it and recording that.
pub(crate) const CREATED_MARK: &str = "by git conflux";

/// Whether the oldest reflog entry of branch `name` is conflux creating it.
pub(crate) fn created_by_conflux(repo: &gix::Repository, name: &FullName) -> bool {
    let Ok(Some(reference)) = repo.try_find_reference(name.as_ref()) else {
        return false;
    };
    let mut log = reference.log_iter();
    let Ok(Some(mut entries)) = log.all() else {
        return false;
    };
    matches!(entries.next(), Some(Ok(line)) if line.message.ends_with(CREATED_MARK.as_bytes()))
}

/// The short name of a local branch reference (`refs/heads/x/y` → `x/y`), `None` for others.
pub(crate) fn short_local_name(name: &FullName) -> Option<String> {
    name.as_bstr()
        .strip_prefix(b"refs/heads/")
        .map(|short| String::from_utf8_lossy(short).into_owned())
}

/// The commit a local branch points to, `None` when the branch does not exist.
pub(crate) fn tip(repo: &gix::Repository, name: &FullName) -> Result<Option<ObjectId>, Error> {
    let read_error = |source| Error::Read {
        name: name.as_bstr().to_string(),
        source,
    };
    let Some(mut reference) = repo.try_find_reference(name.as_ref()).map_err(read_error)? else {
        return Ok(None);
    };
    let id = reference.peel_to_id().map_err(read_error)?;
    Ok(Some(id.detach()))
}

/// Whether `ancestor` is reachable from `of`.
pub(crate) fn is_ancestor(
    repo: &gix::Repository,
    ancestor: ObjectId,
    of: ObjectId,
) -> Result<bool, Error> {
    Ok(merge_base(repo, ancestor, of)? == Some(ancestor))
}

/// The best common ancestor of `one` and `two` (`None` when their histories are unrelated).
/// When one is an ancestor of the other, it is the only one.
pub(crate) fn merge_base(
    repo: &gix::Repository,
    one: ObjectId,
    two: ObjectId,
) -> Result<Option<ObjectId>, Error> {
    if one == two {
        return Ok(Some(one));
    }
    match repo.merge_base(one, two) {
        Ok(base) => Ok(base.map(|base| base.detach())),
        Err(source) => Err(Error::Ancestry {
            ancestor: one,
            of: two,
            source,
        }),
    }
}

/// One worktree (main or linked) and what its HEAD file names, read without resolving a
/// reference: the branch name or the detached commit.
#[derive(Debug, Clone)]
pub(crate) struct CheckedOut {
    pub branch: Option<FullName>,
    /// The commit of a detached HEAD.
    pub detached: Option<ObjectId>,
    /// The admin dir of a linked worktree (`<common-dir>/worktrees/<id>`); `None` for the
    /// main worktree. Top levels are found on demand by [`CheckedOut::workdir`].
    linked_git_dir: Option<PathBuf>,
}

impl CheckedOut {
    /// Absolute top level of the worktree; looked up only for the worktree a caller picked,
    /// since opening the main repository and resolving symlinks cost more than the listing.
    pub(crate) fn workdir(&self, repo: &gix::Repository) -> Option<PathBuf> {
        if let Some(git_dir) = &self.linked_git_dir {
            // The registration's `gitdir` file names the worktree's `.git` file (it may be
            // missing for a stale registration).
            let dot_git = std::fs::read_to_string(git_dir.join("gitdir")).ok()?;
            let dot_git = git_dir.join(dot_git.trim_end_matches(['\n', '\r']));
            return dot_git.parent().map(absolute);
        }
        if repo.git_dir() == repo.common_dir() {
            return repo.workdir().map(absolute);
        }
        repo.main_repo().ok()?.workdir().map(absolute)
    }

    /// The commit HEAD points to: the detached one, or the tip of the branch it names
    /// (`None` for a branch without commits).
    fn head(&self, repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
        match &self.branch {
            Some(name) => tip(repo, name),
            None => Ok(self.detached),
        }
    }
}

/// What the HEAD file of every worktree names, main first. Reads one small file per
/// worktree (its HEAD; where it is checked out only when asked) and opens no repository,
/// so that checks repeated for each of N changes stay linear in N.
pub(crate) fn checked_out(repo: &gix::Repository) -> Result<Vec<CheckedOut>, Error> {
    let list_error = |source| Error::ListWorktrees { source };
    let mut out = vec![main_checked_out(repo)?];
    for proxy in repo
        .worktrees()
        .map_err(|e| list_error(gix::Error::from_error(e)))?
    {
        let (branch, detached) = head_file(proxy.git_dir(), None)?;
        out.push(CheckedOut {
            branch,
            detached,
            linked_git_dir: Some(proxy.git_dir().to_owned()),
        });
    }
    Ok(out)
}

/// What the main worktree's HEAD file (in the common dir) names: one file read, whatever
/// the number of linked worktrees.
pub(crate) fn main_checked_out(repo: &gix::Repository) -> Result<CheckedOut, Error> {
    let (branch, detached) = head_file(repo.common_dir(), None)?;
    Ok(CheckedOut {
        branch,
        detached,
        linked_git_dir: None,
    })
}

/// The top level of the first worktree (main first, as [`checked_out`]) that has `branch`
/// checked out. The main worktree's HEAD is read alone first: a base is almost always
/// checked out there, and then the HEAD files of the N linked worktrees are not read.
pub(crate) fn workdir_of(
    repo: &gix::Repository,
    branch: &FullName,
) -> Result<Option<PathBuf>, Error> {
    let main = main_checked_out(repo)?;
    if main.branch.as_ref() == Some(branch)
        && let Some(workdir) = main.workdir(repo)
    {
        return Ok(Some(workdir));
    }
    Ok(checked_out(repo)?
        .iter()
        .filter(|w| w.branch.as_ref() == Some(branch))
        .find_map(|w| w.workdir(repo)))
}

/// The HEAD file of a worktree's private git dir (the common dir for the main worktree): the
/// branch it names, or the detached commit. Reading the file, rather than opening every
/// worktree as a repository, keeps work over N worktrees linear in N.
pub(crate) fn head_file(
    git_dir: &std::path::Path,
    workdir: Option<&std::path::Path>,
) -> Result<(Option<FullName>, Option<ObjectId>), Error> {
    let read_error = |source| Error::ReadHead {
        worktree: workdir.unwrap_or(git_dir).to_owned(),
        source,
    };
    let bytes =
        read_small(&git_dir.join("HEAD")).map_err(|e| read_error(gix::Error::from_error(e)))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| read_error(gix::Error::from_error(e)))?
        .trim();
    match text.strip_prefix("ref:") {
        Some(target) => {
            let name = FullName::try_from(target.trim())
                .map_err(|e| read_error(gix::Error::from_error(e)))?;
            Ok((Some(name), None))
        }
        None => {
            let id = ObjectId::from_hex(text.as_bytes())
                .map_err(|e| read_error(gix::Error::from_error(e)))?;
            Ok((None, Some(id)))
        }
    }
}

/// The whole of a small file (a HEAD file: one line) by one `read` where it fits, without
/// the `stat` that sizes a buffer first: it is done once per worktree by every check.
fn read_small(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut bytes = vec![0; 256];
    let mut filled = 0;
    loop {
        let n = file.read(&mut bytes[filled..])?;
        if n == 0 {
            bytes.truncate(filled);
            return Ok(bytes);
        }
        filled += n;
        if filled == bytes.len() {
            bytes.resize(filled * 2, 0);
        }
    }
}

/// The first worktree (main first) that has `branch` checked out: what [`checked_out`] would
/// find, for a third of its system calls per worktree (each HEAD file is read; whether a
/// registration is complete, with its `gitdir` file as git requires, is only looked at for
/// the one that names `branch`). Deleting each of N branches asks this once.
fn checked_out_on(repo: &gix::Repository, branch: &FullName) -> Result<Option<CheckedOut>, Error> {
    let main = main_checked_out(repo)?;
    if main.branch.as_ref() == Some(branch) {
        return Ok(Some(main));
    }
    let list_error = |source: std::io::Error| Error::ListWorktrees {
        source: gix::Error::from_error(source),
    };
    let registrations = repo.common_dir().join("worktrees");
    let listing = match std::fs::read_dir(&registrations) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(list_error(e)),
    };
    for entry in listing {
        let entry = entry.map_err(list_error)?;
        if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let git_dir = entry.path();
        let (named, detached) = match head_file(&git_dir, None) {
            Ok(head) => head,
            // A registration without a HEAD is no worktree (git skips it too).
            Err(_) if !git_dir.join("HEAD").exists() => continue,
            Err(e) => return Err(e),
        };
        if named.as_ref() == Some(branch) && git_dir.join("gitdir").is_file() {
            return Ok(Some(CheckedOut {
                branch: named,
                detached,
                linked_git_dir: Some(git_dir),
            }));
        }
    }
    Ok(None)
}

impl Repo {
    /// Delete the local branch `branch`.
    ///
    /// Refuses when the branch is checked out in any worktree and, unless `force`, when its
    /// tip is not reachable from any worktree's HEAD or from any other local branch (its
    /// commits would only survive in the reflog). Deleting a branch that does not exist
    /// succeeds: the postcondition "no such branch" holds.
    pub fn delete_branch(&self, branch: &str, force: bool) -> Result<(), Error> {
        self.delete_branch_unless(branch, if force { None } else { Some(None) })
    }

    /// Delete the local branch `branch` that a merge just made reachable from its base:
    /// [`Repo::delete_branch`] without force, where a branch still at `merged` needs no
    /// history walk to be known merged (one walk per merge would make `merge --all` grow
    /// with the base's history).
    pub(crate) fn delete_merged_branch(&self, branch: &str, merged: ObjectId) -> Result<(), Error> {
        self.delete_branch_unless(branch, Some(Some(merged)))
    }

    /// `check`: `None` deletes even an unmerged branch; `Some(known)` refuses one that no
    /// worktree HEAD or other branch contains, where a tip equal to `known` is known merged.
    fn delete_branch_unless(
        &self,
        branch: &str,
        check: Option<Option<ObjectId>>,
    ) -> Result<(), Error> {
        let mut repo = self.local();
        let name = full_name(branch)?;
        let Some(tip_id) = tip(&repo, &name)? else {
            return Ok(());
        };
        if let Some(worktree) = checked_out_on(&repo, &name)? {
            return Err(Error::CheckedOut {
                name: branch.to_owned(),
                worktree: worktree.workdir(&repo).unwrap_or_default(),
            });
        }
        let unmerged = match check {
            None => false,
            Some(known) if known == Some(tip_id) => false,
            Some(_) => !is_merged_elsewhere(&repo, &name, tip_id, &checked_out(&repo)?)?,
        };
        if unmerged {
            return Err(Error::Unmerged {
                name: branch.to_owned(),
                tip: tip_id,
            });
        }
        let delete_error = |source| Error::Delete {
            name: branch.to_owned(),
            source,
        };
        if has_branch_config(&repo, &name) {
            // gix's deletion also removes the `branch.<name>` section; it checks every
            // worktree's HEAD again by opening each as a repository, which only this rare
            // case pays for.
            return repo
                .delete_local_branches_if_unchanged([(name, Target::Object(tip_id))])
                .map_err(delete_error);
        }
        repo.edit_reference(RefEdit::delete(
            name,
            PreviousValue::MustExistAndMatch(Target::Object(tip_id)),
        ))
        .map(drop)
        .map_err(delete_error)
    }
}

/// Whether the repository's own config file (read now: a person may have written it since
/// the repository was opened) has a `branch.<name>` section; unreadable counts as yes.
fn has_branch_config(repo: &gix::Repository, name: &FullName) -> bool {
    let path = repo.common_dir().join("config");
    match gix::config::File::from_path_no_includes(path, gix::config::Source::Local) {
        Ok(file) => file.section("branch", Some(name.shorten())).is_ok(),
        Err(_) => true,
    }
}

/// Whether `tip` is reachable from a worktree's HEAD or from another local branch. The
/// HEADs come first, the main worktree's first: a branch just merged is found in one
/// history walk there, instead of one walk per other branch.
fn is_merged_elsewhere(
    repo: &gix::Repository,
    name: &FullName,
    tip_id: ObjectId,
    worktrees: &[CheckedOut],
) -> Result<bool, Error> {
    let read_error = |source| Error::Read {
        name: name.as_bstr().to_string(),
        source,
    };
    let mut seen = Vec::new();
    for worktree in worktrees {
        if let Some(head) = worktree.head(repo)?
            && !seen.contains(&head)
        {
            if is_ancestor(repo, tip_id, head)? {
                return Ok(true);
            }
            seen.push(head);
        }
    }
    let references = repo.references().map_err(read_error)?;
    for reference in references.local_branches().map_err(read_error)? {
        let mut reference = reference.map_err(read_error)?;
        if reference.name() == name.as_ref() {
            continue;
        }
        if let Ok(id) = reference.peel_to_id()
            && !seen.contains(&id.detach())
            && is_ancestor(repo, tip_id, id.detach())?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
