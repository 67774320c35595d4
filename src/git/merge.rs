//! Merges, computed in memory (gix tree merge), then applied like `git merge` would.
//!
//! Nothing is written to a ref, an index or a worktree unless the merge is clean. The
//! merged blobs and trees are written to the object database as they are computed, like
//! `git merge-tree --write-tree` does; unreferenced, they are garbage-collected.

use std::path::PathBuf;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::refs::Target;
use gix::refs::transaction::{LogChange, PreviousValue, RefEdit, RefLog};

use super::Repo;
use super::branch::{self, full_name};
use super::checkout;
use super::commit::{self, identity};
use super::journal::{self, Journal};
use super::repo::absolute;

/// How a branch joins its base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MergeMode {
    /// Move the base forward when it is an ancestor of the branch; otherwise a merge commit.
    #[default]
    FastForward,
    /// Always a merge commit with both parents.
    NoFastForward,
    /// One commit with the merged tree and only the base as parent.
    Squash,
}

/// Merge `branch` into `base` (both short local branch names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    pub base: String,
    pub branch: String,
    pub mode: MergeMode,
    /// The message of the merge (or squash) commit; unused for a fast-forward.
    pub message: String,
}

/// What [`Repo::merge_into`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The branch is already reachable from the base: nothing to do.
    AlreadyMerged,
    /// The base moved from `from` to `to`, the branch tip.
    FastForward { from: ObjectId, to: ObjectId },
    /// The base now points to the new `commit`.
    Merged { commit: ObjectId },
    /// The merge does not resolve; nothing was changed.
    Conflicts(Vec<Conflict>),
}

/// What [`Repo::merge_commits_to_commit`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergedCommit {
    /// The commit to start from: a single tip as is, or a new merge commit of all tips.
    Commit(ObjectId),
    /// The tips do not merge cleanly.
    Conflicts(Vec<Conflict>),
}

/// One path that did not merge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub path: PathBuf,
    pub kind: ConflictKind,
}

/// Why a path did not merge, in git's terms (`CONFLICT (<kind>)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConflictKind {
    /// Both sides changed the same lines (or the same binary file or symlink).
    Content,
    /// Both sides added different content at the same path.
    AddAdd,
    /// One side changed the file, the other deleted it.
    ModifyDelete,
    /// Renames that clash (rename/rename, rename/delete, rename into a changed path).
    Rename,
    /// A file on one side is a directory on the other.
    FileDirectory,
    /// Both sides moved a submodule to different commits.
    Submodule,
    /// Anything else gix reports as unresolved.
    Other,
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConflictKind::Content => "content",
            ConflictKind::AddAdd => "add/add",
            ConflictKind::ModifyDelete => "modify/delete",
            ConflictKind::Rename => "rename",
            ConflictKind::FileDirectory => "file/directory",
            ConflictKind::Submodule => "submodule",
            ConflictKind::Other => "unresolved",
        })
    }
}

/// Why a merge failed (conflicts are not errors: they are [`MergeOutcome::Conflicts`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Branch(#[from] branch::Error),
    #[error("branch {branch} does not exist")]
    NoSuchBranch { branch: String },
    #[error("{what} {id} is not a commit in this repository")]
    NoSuchCommit { what: &'static str, id: ObjectId },
    #[error("nothing to merge: no commits were given")]
    NothingToMerge,
    #[error(transparent)]
    Identity(commit::Error),
    #[error(
        "local changes in {} would be overwritten by merging into it: {}; commit, stash or move them, then merge again (nothing was changed)",
        worktree.display(), crate::error::list_cut(paths.iter().map(|p| p.display()))
    )]
    LocalChanges {
        worktree: PathBuf,
        paths: Vec<PathBuf>,
    },
    #[error("could not update the checked-out branch {base} (nothing was changed)")]
    UpdateWorktree {
        base: String,
        #[source]
        source: checkout::Error,
    },
    #[error(
        "merging into {base} failed half-way ({cause}), and the files written could not be restored ({undo}); the next `git conflux merge` restores them"
    )]
    Interrupted {
        base: String,
        cause: Box<Error>,
        undo: checkout::Error,
    },
    #[error(transparent)]
    Journal(#[from] journal::Error),
    #[error("could not {action}")]
    Git {
        action: String,
        #[source]
        source: gix::Error,
    },
}

fn git(action: impl Into<String>) -> impl FnOnce(gix::Error) -> Error {
    let action = action.into();
    move |source| Error::Git { action, source }
}

impl Repo {
    /// Merge `req.branch` into `req.base` and move `req.base`.
    ///
    /// When `base` is checked out in a worktree, that worktree is updated as `git merge`
    /// would: only files that changed are written or deleted, the index keeps its other
    /// entries, and if a local change (edit, staged change or untracked file) sits on a
    /// path the merge changes, [`Error::LocalChanges`] is returned and nothing changes.
    /// When `base` is not checked out anywhere, only the ref moves.
    pub fn merge_into(&self, req: &MergeRequest) -> Result<MergeOutcome, Error> {
        if let Some(recovered) = self.recover_interrupted_merge()? {
            tracing::warn!("{recovered}");
        }
        let repo = self.local_for_merge();
        let merged = self.merge_with(&repo, req);
        self.keep_merge_objects(repo);
        merged
    }

    /// [`Repo::merge_into`] reading objects through `repo`.
    fn merge_with(
        &self,
        repo: &gix::Repository,
        req: &MergeRequest,
    ) -> Result<MergeOutcome, Error> {
        let base_name = full_name(&req.base)?;
        let branch_name = full_name(&req.branch)?;
        let base_tip = branch::tip(repo, &base_name)?.ok_or_else(|| Error::NoSuchBranch {
            branch: req.base.clone(),
        })?;
        let branch_tip = branch::tip(repo, &branch_name)?.ok_or_else(|| Error::NoSuchBranch {
            branch: req.branch.clone(),
        })?;
        // One history walk answers both questions: a commit that is an ancestor of the
        // other is their only best merge base.
        let merge_base = branch::merge_base(repo, branch_tip, base_tip)?;
        if merge_base == Some(branch_tip) {
            return Ok(MergeOutcome::AlreadyMerged);
        }
        let base_is_ancestor = merge_base == Some(base_tip);

        let (new_tip, outcome, reflog) = if base_is_ancestor && req.mode == MergeMode::FastForward {
            (
                branch_tip,
                MergeOutcome::FastForward {
                    from: base_tip,
                    to: branch_tip,
                },
                format!("merge {}: Fast-forward", req.branch),
            )
        } else {
            let tree = if base_is_ancestor {
                commit_tree(repo, branch_tip, "the branch tip")?
            } else {
                match merge_two(repo, base_tip, branch_tip, &req.base, &req.branch)? {
                    Ok(tree) => tree,
                    Err(conflicts) => return Ok(MergeOutcome::Conflicts(conflicts)),
                }
            };
            let parents = match req.mode {
                MergeMode::Squash => vec![base_tip],
                MergeMode::FastForward | MergeMode::NoFastForward => vec![base_tip, branch_tip],
            };
            let commit = new_commit(repo, &req.message, tree, parents)?;
            let reflog = match req.mode {
                MergeMode::Squash => format!("merge {}: squashed", req.branch),
                MergeMode::FastForward | MergeMode::NoFastForward => {
                    format!("merge {}: Merge made by the 'ort' strategy.", req.branch)
                }
            };
            (commit, MergeOutcome::Merged { commit }, reflog)
        };

        let Some(worktree) = branch::workdir_of(repo, &base_name)? else {
            move_branch(repo, base_name, base_tip, new_tip, reflog)?;
            return Ok(outcome);
        };
        let old_tree = commit_tree(repo, base_tip, "the base tip")?;
        let new_tree = commit_tree(repo, new_tip, "the merge result")?;
        // The base is nearly always checked out where the merge runs: then the update goes
        // through the merge's own repository, whose object cache holds the trees just merged.
        let update = if repo.workdir().map(absolute).as_ref() == Some(&worktree) {
            checkout::TreeUpdate::prepare_in(repo, &worktree, old_tree, new_tree)
        } else {
            checkout::TreeUpdate::prepare(&worktree, old_tree, new_tree)
        };
        let update = update.map_err(|err| match err {
            checkout::Error::LocalChanges { worktree, paths } => {
                Error::LocalChanges { worktree, paths }
            }
            source => Error::UpdateWorktree {
                base: req.base.clone(),
                source,
            },
        })?;
        if update.is_empty() {
            move_branch(repo, base_name, base_tip, new_tip, reflog)?;
            return Ok(outcome);
        }
        // All or nothing: recorded before the first file changes, undone here when a write
        // fails, and undone by the next merge when this process dies half-way.
        Journal::new(&worktree, &base_name, base_tip, new_tip, old_tree, new_tree).write(repo)?;
        let applied = update
            .apply()
            .map_err(|source| Error::UpdateWorktree {
                base: req.base.clone(),
                source,
            })
            .and_then(|()| move_branch(repo, base_name, base_tip, new_tip, reflog));
        match applied {
            Ok(()) => {
                // The merge is complete; a record left behind is dropped by the next merge.
                if let Err(e) = Journal::remove(repo) {
                    tracing::warn!("{e}");
                }
                Ok(outcome)
            }
            Err(err) => match checkout::roll_back(&worktree, old_tree, new_tree) {
                Ok(_) => {
                    Journal::remove(repo)?;
                    Err(err)
                }
                Err(undo) => Err(Error::Interrupted {
                    base: req.base.clone(),
                    cause: Box::new(err),
                    undo,
                }),
            },
        }
    }

    /// Merge several commits (the tips of a change's dependencies) into one commit to start
    /// from, in memory. One commit (or commits that all lead to one of them) is returned as
    /// is; otherwise a new merge commit, parented on every non-redundant tip, is written to
    /// the object database (no ref points to it).
    /// Delete `branch` after `outcome` merged it: the tip it merged is known to be in the
    /// base (the fast-forward target, or a merge commit's second parent), so no history walk
    /// is needed while the branch is still there.
    pub fn delete_branch_after(
        &self,
        branch: &str,
        outcome: &MergeOutcome,
    ) -> Result<(), branch::Error> {
        let merged = match outcome {
            MergeOutcome::FastForward { to, .. } => Some(*to),
            MergeOutcome::Merged { commit } => self
                .local()
                .find_commit(*commit)
                .ok()
                .and_then(|c| c.parent_ids().nth(1).map(|id| id.detach())),
            MergeOutcome::AlreadyMerged | MergeOutcome::Conflicts(_) => None,
        };
        match merged {
            Some(merged) => self.delete_merged_branch(branch, merged),
            None => self.delete_branch(branch, false),
        }
    }

    pub fn merge_commits_to_commit(
        &self,
        commits: &[ObjectId],
        message: &str,
    ) -> Result<MergedCommit, Error> {
        let mut repo = self.local();
        repo.object_cache_size_if_unset(64 * 1024 * 1024);
        let mut tips: Vec<ObjectId> = Vec::new();
        for &candidate in commits {
            commit_tree(&repo, candidate, "a commit to merge")?;
            if tips.contains(&candidate) {
                continue;
            }
            tips.push(candidate);
        }
        // Drop the tips that another tip already contains.
        let mut kept = Vec::new();
        for (index, &tip) in tips.iter().enumerate() {
            let mut redundant = false;
            for (other_index, &other) in tips.iter().enumerate() {
                if other_index != index && branch::is_ancestor(&repo, tip, other)? {
                    redundant = true;
                    break;
                }
            }
            if !redundant {
                kept.push(tip);
            }
        }
        let Some((&first, rest)) = kept.split_first() else {
            return Err(Error::NothingToMerge);
        };
        if rest.is_empty() {
            return Ok(MergedCommit::Commit(first));
        }
        let mut accumulated = first;
        let mut tree = commit_tree(&repo, first, "a commit to merge")?;
        for &next in rest {
            let ours = accumulated.to_string();
            let theirs = next.to_string();
            tree = match merge_two(&repo, accumulated, next, &ours, &theirs)? {
                Ok(tree) => tree,
                Err(conflicts) => return Ok(MergedCommit::Conflicts(conflicts)),
            };
            // An intermediate commit so that the next merge finds the right merge base.
            accumulated = new_commit(&repo, message, tree, [accumulated, next])?;
        }
        Ok(MergedCommit::Commit(new_commit(
            &repo, message, tree, kept,
        )?))
    }
}

/// Merge `theirs` into `ours`: the merged tree, or the unresolved conflicts.
fn merge_two(
    repo: &gix::Repository,
    ours: ObjectId,
    theirs: ObjectId,
    ours_label: &str,
    theirs_label: &str,
) -> Result<Result<ObjectId, Vec<Conflict>>, Error> {
    let outcome = merge_outcome(repo, ours, theirs, ours_label, theirs_label)?;
    let conflicts = unresolved(&outcome.tree_merge);
    if !conflicts.is_empty() {
        return Ok(Err(conflicts));
    }
    let tree = write_merged_tree(repo, outcome.tree_merge.tree)
        .map_err(git(format!("merge {theirs_label} into {ours_label}")))?;
    Ok(Ok(tree))
}

/// Writes the tree a merge made. gix's own `Editor::write` first checks that the object of
/// every entry of every tree it writes exists, one `stat` per entry of each rewritten folder:
/// with 100 changes in `openspec/changes/` that was a fifth of each merge. Every entry of a
/// merge result is taken from the merged trees or was written by the merge, so only the
/// names are checked, as gix checks them (`core.protectNTFS`, `core.protectHFS`).
fn write_merged_tree(
    repo: &gix::Repository,
    editor: gix::object::tree::Editor<'_>,
) -> Result<ObjectId, gix::Error> {
    let config = repo.config_snapshot();
    let protect = gix::validate::path::component::Options {
        protect_windows: config
            .boolean("gitoxide.core.protectWindows")
            .unwrap_or(cfg!(windows)),
        protect_hfs: config
            .boolean("core.protectHFS")
            .unwrap_or(cfg!(target_os = "macos")),
        protect_ntfs: config.boolean("core.protectNTFS").unwrap_or(true),
    };
    editor
        .detach()
        .write(|tree| -> Result<ObjectId, gix::Error> {
            for entry in &tree.entries {
                let symlink = entry
                    .mode
                    .is_link()
                    .then_some(gix::validate::path::component::Mode::Symlink);
                gix::validate::path::component(entry.filename.as_ref(), symlink, protect)
                    .map_err(gix::Error::from_error)?;
            }
            Ok(repo.write_object(tree)?.detach())
        })
}

/// The full in-memory merge of `theirs` into `ours` (the tree, with conflict markers in
/// conflicting files, and the conflicts), labelled for the markers.
pub(crate) fn merge_outcome<'repo>(
    repo: &'repo gix::Repository,
    ours: ObjectId,
    theirs: ObjectId,
    ours_label: &str,
    theirs_label: &str,
) -> Result<gix::merge::commit::Outcome<'repo>, Error> {
    let action = || format!("merge {theirs_label} into {ours_label}");
    let options = repo.tree_merge_options().map_err(git(action()))?;
    let labels = gix::merge::blob::builtin_driver::text::Labels {
        ancestor: None,
        current: Some(ours_label.into()),
        other: Some(theirs_label.into()),
    };
    repo.merge_commits(ours, theirs, labels, options.into())
        .map_err(git(action()))
}

/// The conflicts git would leave unresolved, sorted, one per path and kind.
pub(crate) fn unresolved(outcome: &gix::merge::tree::Outcome<'_>) -> Vec<Conflict> {
    let how = gix::merge::tree::TreatAsUnresolved::git();
    let mut conflicts: Vec<Conflict> = outcome
        .conflicts
        .iter()
        .filter(|conflict| conflict.is_unresolved(how))
        .map(describe)
        .collect();
    conflicts.sort();
    conflicts.dedup();
    conflicts
}

/// The path and git-style kind of one unresolved conflict.
fn describe(conflict: &gix::merge::tree::Conflict) -> Conflict {
    use gix::diff::tree_with_rewrites::Change;
    use gix::merge::tree::{Resolution, ResolutionFailure};
    let (ours, theirs) = conflict.changes_in_resolution();
    let kind = match &conflict.resolution {
        Err(failure) => match failure {
            ResolutionFailure::OursModifiedTheirsDeleted => ConflictKind::ModifyDelete,
            ResolutionFailure::OursRenamedTheirsRenamedToSameLocation
            | ResolutionFailure::OursRenamedTheirsRenamedDifferently { .. }
            | ResolutionFailure::OursDeletedTheirsRenamed
            | ResolutionFailure::OursModifiedTheirsRenamedTypeMismatch => ConflictKind::Rename,
            ResolutionFailure::OursModifiedTheirsDirectoryThenOursRenamed { .. }
            | ResolutionFailure::OursDirectoryTheirsNonDirectoryTheirsRenamed { .. } => {
                ConflictKind::FileDirectory
            }
            ResolutionFailure::OursAddedTheirsAddedTypeMismatch { .. } => ConflictKind::AddAdd,
            ResolutionFailure::SubmoduleMerge | ResolutionFailure::SubmoduleAddAdd => {
                ConflictKind::Submodule
            }
            ResolutionFailure::Unknown => ConflictKind::Other,
        },
        Ok(Resolution::OursModifiedTheirsModifiedThenBlobContentMerge { .. }) => {
            if matches!(ours, Change::Addition { .. }) && matches!(theirs, Change::Addition { .. })
            {
                ConflictKind::AddAdd
            } else {
                ConflictKind::Content
            }
        }
        Ok(Resolution::OursModifiedTheirsRenamedAndChangedThenRename { .. })
        | Ok(Resolution::SourceLocationAffectedByRename { .. }) => ConflictKind::Rename,
        Ok(Resolution::Forced(_)) => ConflictKind::Other,
    };
    Conflict {
        path: PathBuf::from(ours.location().to_str_lossy().into_owned()),
        kind,
    }
}

pub(crate) fn commit_tree(
    repo: &gix::Repository,
    id: ObjectId,
    what: &'static str,
) -> Result<ObjectId, Error> {
    let commit = repo
        .find_commit(id)
        .map_err(|_| Error::NoSuchCommit { what, id })?;
    Ok(commit
        .tree_id()
        .map_err(git(format!("read the tree of {what} {id}")))?
        .detach())
}

pub(crate) fn new_commit(
    repo: &gix::Repository,
    message: &str,
    tree: ObjectId,
    parents: impl IntoIterator<Item = ObjectId>,
) -> Result<ObjectId, Error> {
    let (committer, author) = identity(repo).map_err(Error::Identity)?;
    let commit = repo
        .new_commit_as(
            committer.to_ref(&mut Default::default()),
            author.to_ref(&mut Default::default()),
            message,
            tree,
            parents,
        )
        .map_err(git("write the merge commit"))?;
    Ok(commit.id)
}

/// Move `name` from `from` to `to`, failing if someone else moved it meanwhile.
pub(crate) fn move_branch(
    repo: &gix::Repository,
    name: gix::refs::FullName,
    from: ObjectId,
    to: ObjectId,
    reflog: String,
) -> Result<(), Error> {
    let short = branch::short_local_name(&name).unwrap_or_default();
    repo.edit_reference(RefEdit {
        change: gix::refs::transaction::Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: reflog.into(),
            },
            expected: PreviousValue::MustExistAndMatch(Target::Object(from)),
            new: Target::Object(to),
        },
        name,
        deref: false,
    })
    .map_err(git(format!("move branch {short} to {to}")))?;
    Ok(())
}
