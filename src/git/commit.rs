//! `git add -A && git commit`, in-process.
//!
//! status (index ↔ worktree: the stat scan of [`dirty`](super::dirty), or gix's full status
//! where that scan declines) → new blobs for what changed → index updated with fresh stat
//! data → HEAD tree edited with the index ↔ HEAD differences → commit → HEAD moved (with
//! reflog) → index written atomically. Unchanged files are never read.

use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};

use super::dirty::{self, Until};
use super::{Repo, index_file, open};

/// Why [`commit_all`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Open(#[from] open::Error),
    #[error(
        "no author/committer identity for commits in {}; set one with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com` (or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL)",
        repo.display()
    )]
    MissingIdentity { repo: PathBuf },
    #[error("invalid author/committer identity in the git configuration of {}", repo.display())]
    InvalidIdentity {
        repo: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error(
        "the worktree at {} has unmerged paths ({}); resolve them and `git add` them first",
        worktree.display(), crate::error::list_cut(paths)
    )]
    Unmerged {
        worktree: PathBuf,
        paths: Vec<String>,
    },
    #[error("could not {action} in the worktree at {}", worktree.display())]
    Git {
        action: &'static str,
        worktree: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("could not read {} to commit it", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Commit everything in the worktree at `worktree`, like `git add -A && git commit -m message`.
///
/// * honours `.gitignore` and `.gitattributes` (eol conversion, clean filters);
/// * never stages files named `.conflux-*` (conflux's own temp files), nor Aider's repo-map
///   cache `.aider.tags.cache.v*/` at the top (the one scratch file of an agent CLI that no
///   flag moves out of the worktree);
/// * author and committer come from `GIT_AUTHOR_*`/`GIT_COMMITTER_*`, then `user.name`/
///   `user.email` from the git config; missing ones are [`Error::MissingIdentity`];
/// * returns `None`, and makes no commit, when nothing changed.
///
/// The repository's `pre-commit` and `commit-msg` hooks do NOT run: these are commits of an
/// agent's iteration on its own branch, and hooks belong to the user, who runs what they want
/// through conflux's own hooks configuration (a failing hook must not lose an iteration).
pub fn commit_all(worktree: &Path, message: &str) -> Result<Option<ObjectId>, Error> {
    commit_worktree(worktree, message, None)
}

/// Conclude a merge in progress in `worktree` (see [`Repo::merge_base_into_worktree`]): commit
/// everything there, like `git add -A && git commit`, with `other` as the second parent, and
/// remove `MERGE_HEAD`. Unmerged paths count as resolved with what their files now hold, as
/// `git add` would record them. Always makes a commit, even when the tree equals HEAD's.
pub fn commit_merge(worktree: &Path, message: &str, other: ObjectId) -> Result<ObjectId, Error> {
    let commit = commit_worktree(worktree, message, Some(other))?;
    let repo = Repo::open_at(worktree)?;
    super::worktree_merge::clear_merge_state(&repo).map_err(|source| Error::Git {
        action: "remove MERGE_HEAD",
        worktree: worktree.to_owned(),
        source: gix::Error::from_error(source),
    })?;
    commit.ok_or_else(|| Error::Git {
        action: "make the merge commit",
        worktree: worktree.to_owned(),
        source: gix::Error::from_error(std::io::Error::other("no commit was made")),
    })
}

/// The one `add -A && commit` path: with `merge`, a merge commit whose second parent is
/// `merge`, and unmerged paths are taken from the worktree instead of refused.
fn commit_worktree(
    worktree: &Path,
    message: &str,
    merge: Option<ObjectId>,
) -> Result<Option<ObjectId>, Error> {
    let repo = Repo::open_at(worktree)?;
    let (committer, author) = identity(&repo)?;
    let git = |action: &'static str| {
        move |source| Error::Git {
            action,
            worktree: worktree.to_owned(),
            source,
        }
    };
    let workdir = repo
        .workdir()
        .map(Path::to_owned)
        .unwrap_or_else(|| worktree.to_owned());

    let snapshot = repo.index_or_empty().map_err(git("read the index"))?;
    let mut index: gix::index::File = gix::index::File::clone(&snapshot);
    let head_id = repo.head_id().ok().map(|id| id.detach());
    let head_tree = match head_id {
        Some(id) => repo
            .find_commit(id)
            .and_then(|commit| commit.tree_id())
            .map(|tree| tree.detach())
            .map_err(git("read the HEAD commit"))?,
        None => ObjectId::empty_tree(repo.object_hash()),
    };

    let (mut pipeline, _) = repo
        .filter_pipeline(None)
        .map_err(git("set up the filters"))?;
    let changes =
        match dirty::scan(&repo, &snapshot, Until::End).map_err(git("compute the status"))? {
            Some(changes) => changes,
            None => full_status(&repo, &snapshot).map_err(git("compute the status"))?,
        };
    let dirty::Changes {
        mut removed,
        modified,
        refreshed,
        mut unmerged,
        untracked,
    } = changes;
    unmerged.sort();
    unmerged.dedup();
    if merge.is_none() && !unmerged.is_empty() {
        return Err(Error::Unmerged {
            worktree: worktree.to_owned(),
            paths: unmerged.iter().map(ToString::to_string).collect(),
        });
    }
    let mut changed_index = !refreshed.is_empty();
    for (at, stat) in refreshed {
        index.entries_mut()[at].stat = stat;
    }
    for at in modified {
        let rela_path = index.entries()[at].path(&index).to_owned();
        match hash_file(&mut pipeline, &workdir, rela_path.as_ref(), &index)? {
            Some((id, mode, stat)) => {
                let entry = &mut index.entries_mut()[at];
                entry.id = id;
                entry.mode = mode;
                entry.stat = stat;
                entry.flags.remove(gix::index::entry::Flags::INTENT_TO_ADD);
            }
            None => removed.push(at),
        }
        changed_index = true;
    }
    let mut additions = Vec::new();
    for path in untracked {
        if is_conflux_temp(path.as_ref()) {
            continue;
        }
        if let Some(found) = hash_file(&mut pipeline, &workdir, path.as_ref(), &index)? {
            additions.push((path, found));
        }
    }
    if !removed.is_empty() {
        removed.sort_unstable();
        index.remove_entries(|at, _, _| removed.binary_search(&at).is_ok());
        changed_index = true;
    }
    if !unmerged.is_empty() {
        // `git add` on a conflicted path (a merge being concluded): every stage goes, the
        // file becomes stage 0.
        let resolved = unmerged;
        index.remove_entries(|_, path, _| {
            resolved.binary_search_by(|p| p.as_bstr().cmp(path)).is_ok()
        });
        for path in &resolved {
            if let Some(found) = hash_file(&mut pipeline, &workdir, path.as_ref(), &index)? {
                additions.push((path.clone(), found));
            }
        }
        changed_index = true;
    }
    for (path, (id, mode, stat)) in &additions {
        index.dangerously_push_entry(
            *stat,
            *id,
            gix::index::entry::Flags::empty(),
            *mode,
            path.as_ref(),
        );
        changed_index = true;
    }
    if changed_index {
        index.sort_entries();
    }

    let tree = write_tree(&repo, &index, changed_index).map_err(git("write the tree"))?;
    let commit = if tree == head_tree && head_id.is_some() && merge.is_none() {
        None
    } else {
        let id = repo
            .commit_as(
                committer.to_ref(&mut Default::default()),
                author.to_ref(&mut Default::default()),
                "HEAD",
                message,
                tree,
                head_id.into_iter().chain(merge),
            )
            .map_err(git("commit"))?;
        Some(id.detach())
    };
    if changed_index {
        index_file::write(index, Some(tree)).map_err(git("write the index"))?;
    }
    Ok(commit)
}

/// [`dirty::Changes`] from gix's full status, for what the stat scan declines (submodules, a
/// sparse index, case folding, unmerged or intent-to-add entries).
fn full_status(
    repo: &gix::Repository,
    snapshot: &gix::worktree::Index,
) -> Result<dirty::Changes, gix::Error> {
    let iter = repo
        .status(gix::progress::Discard)?
        .index(gix::worktree::IndexPersistedOrInMemory::Persisted(
            snapshot.clone(),
        ))
        .untracked_files(gix::status::UntrackedFiles::Files)
        .dirwalk_options(|options| options.empty_patterns_match_prefix(false))
        .index_worktree_rewrites(None)
        .index_worktree_submodules(gix::status::Submodule::AsConfigured { check_dirty: false })
        .into_index_worktree_iter(Vec::new())?;
    let mut changes = dirty::Changes::default();
    for item in iter {
        use gix::status::index_worktree::Item;
        use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};
        match item? {
            Item::Modification {
                entry_index,
                rela_path,
                status,
                ..
            } => match status {
                EntryStatus::Conflict { .. } => changes.unmerged.push(rela_path),
                EntryStatus::Change(Change::Removed) => changes.removed.push(entry_index),
                EntryStatus::NeedsUpdate(stat) => changes.refreshed.push((entry_index, stat)),
                EntryStatus::Change(_) | EntryStatus::IntentToAdd => {
                    changes.modified.push(entry_index)
                }
            },
            Item::DirectoryContents { entry, .. } => {
                if entry.status == gix::dir::entry::Status::Untracked {
                    changes.untracked.push(entry.rela_path);
                }
            }
            Item::Rewrite { .. } => {}
        }
    }
    Ok(changes)
}

/// conflux's own temp files and an agent's scratch cache, never committed.
fn is_conflux_temp(rela_path: &BStr) -> bool {
    rela_path.starts_with(b".aider.tags.cache.v")
        || rela_path
            .rsplit_str("/")
            .next()
            .is_some_and(|name| name.starts_with(b".conflux-"))
}

/// Write the worktree file at `rela_path` as a blob (through the clean filters) and return
/// what its index entry needs; `None` when it vanished or cannot be tracked. The stat data is
/// taken before the file is read, as git takes it: a change made while it is read then shows
/// as a stat mismatch later, never as a match for the id of what was read.
fn hash_file(
    pipeline: &mut gix::filter::Pipeline<'_>,
    workdir: &Path,
    rela_path: &BStr,
    index: &gix::index::State,
) -> Result<Option<(ObjectId, gix::index::entry::Mode, gix::index::entry::Stat)>, Error> {
    let relative = gix::path::from_bstr(rela_path).map_err(|source| Error::Git {
        action: "name a changed file",
        worktree: workdir.to_owned(),
        source,
    })?;
    let path = workdir.join(relative);
    let metadata = match gix::index::fs::Metadata::from_path_no_follow(&path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Read { path, source }),
    };
    let stat = gix::index::entry::Stat::from_fs(&metadata).map_err(|err| Error::Read {
        path: path.clone(),
        source: std::io::Error::other(err),
    })?;
    let Some((id, kind, _)) =
        pipeline
            .worktree_file_to_object(rela_path, index)
            .map_err(|source| Error::Git {
                action: "hash a changed file",
                worktree: workdir.to_owned(),
                source,
            })?
    else {
        return Ok(None);
    };
    let mode = match kind {
        gix::object::tree::EntryKind::BlobExecutable => gix::index::entry::Mode::FILE_EXECUTABLE,
        gix::object::tree::EntryKind::Link => gix::index::entry::Mode::SYMLINK,
        gix::object::tree::EntryKind::Commit => gix::index::entry::Mode::COMMIT,
        gix::object::tree::EntryKind::Blob | gix::object::tree::EntryKind::Tree => {
            gix::index::entry::Mode::FILE
        }
    };
    Ok(Some((id, mode, stat)))
}

/// The tree the index describes, written like `git write-tree`: every directory's tree is
/// hashed from the entries and only the ones missing from the object database are written.
/// An index whose entries did not change since it was read with a valid cached tree is that tree.
fn write_tree(
    repo: &gix::Repository,
    index: &gix::index::State,
    changed: bool,
) -> Result<ObjectId, gix::Error> {
    if !changed
        && let Some(cached) = index.tree()
        && cached.num_entries.map(|n| n as usize) == Some(index.entries().len())
    {
        return Ok(cached.id);
    }
    let mut store = |id: ObjectId, data: &[u8]| -> Result<(), gix::Error> {
        if !repo.has_object(id) {
            gix::prelude::Write::write_buf(repo, gix::objs::Kind::Tree, data)?;
        }
        Ok(())
    };
    index_file::cache_tree(index, &mut store)?
        .map(|tree| tree.id)
        .ok_or_else(|| {
            gix::Error::from_error(std::io::Error::other(
                "the index has entries no tree can hold (unmerged, intent-to-add or sparse)",
            ))
        })
}

/// The committer and author for commits in `repo`.
pub(crate) fn identity(
    repo: &gix::Repository,
) -> Result<(gix::actor::Signature, gix::actor::Signature), Error> {
    let where_ = || repo.workdir().unwrap_or_else(|| repo.git_dir()).to_owned();
    let resolve = |found: Option<gix::Result<gix::actor::SignatureRef<'_>>>| -> Result<gix::actor::Signature, Error> {
        let signature = found
            .ok_or_else(|| Error::MissingIdentity { repo: where_() })?
            .map_err(|source| Error::InvalidIdentity { repo: where_(), source })?;
        signature.to_owned().map_err(|err| Error::InvalidIdentity {
            repo: where_(),
            source: gix::Error::from_error(err),
        })
    };
    Ok((resolve(repo.committer())?, resolve(repo.author())?))
}
