//! Bringing a checked-out branch from one commit to another, as `git merge` does after it
//! has made its commit: only the files that differ between the two trees are written or
//! deleted, the index keeps every other entry (and its stat data and staged state), and
//! nothing at all changes when a local change would be overwritten.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};

use super::repo::absolute;
use super::status::{changed_paths, pathspec_literal};

/// Why the worktree could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "local changes in {} would be overwritten: {}; commit or stash them, then merge again (nothing was changed)",
        worktree.display(), paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    LocalChanges {
        worktree: PathBuf,
        paths: Vec<PathBuf>,
    },
    #[error("could not {action} in the worktree at {}", worktree.display())]
    Git {
        action: &'static str,
        worktree: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("could not update {} in the worktree", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One path that differs between the old and the new tree; `new` is `None` for a deletion.
struct Update {
    path: BString,
    new: Option<(gix::index::entry::Mode, ObjectId)>,
}

/// Check that nothing local is in the way of going from `old_tree` to `new_tree` in the
/// worktree at `workdir`, then update its files and index. The caller moves the ref after.
pub(crate) fn update_worktree(
    workdir: &Path,
    old_tree: ObjectId,
    new_tree: ObjectId,
) -> Result<(), Error> {
    let workdir = absolute(workdir);
    let git = |action: &'static str| {
        let worktree = workdir.clone();
        move |source| Error::Git {
            action,
            worktree: worktree.clone(),
            source,
        }
    };
    let repo = gix::open(&workdir).map_err(git("open the repository"))?;
    let updates = tree_updates(&repo, old_tree, new_tree).map_err(git("compare the trees"))?;
    if updates.is_empty() {
        return Ok(());
    }

    // Local changes (staged, unstaged, untracked) at any path we are about to write or delete.
    let patterns = updates
        .iter()
        .map(|update| pathspec_literal(Path::new(update.path.to_str_lossy().as_ref())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(git("select the changed paths"))?;
    let local = changed_paths(&repo, patterns, false).map_err(git("compute the status"))?;
    let touched: BTreeSet<&[u8]> = updates.iter().map(|u| u.path.as_slice()).collect();
    let mut in_the_way: Vec<PathBuf> = local
        .iter()
        .filter(|path| {
            let path = path.as_slice();
            touched.contains(path)
                || touched
                    .iter()
                    .any(|t| t.starts_with(path) && t.get(path.len()) == Some(&b'/'))
        })
        .map(|path| PathBuf::from(path.to_str_lossy().into_owned()))
        .collect();
    if !in_the_way.is_empty() {
        in_the_way.sort();
        in_the_way.dedup();
        return Err(Error::LocalChanges {
            worktree: workdir,
            paths: in_the_way,
        });
    }

    // Deletions first, so a directory can become a file and a file a directory.
    for update in updates.iter().filter(|u| u.new.is_none()) {
        let path = workdir.join(update.path.to_str_lossy().as_ref());
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => std::fs::remove_file(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path, source }),
        }
        remove_empty_parents(&workdir, &path);
    }

    let mut written = gix::index::State::new(repo.object_hash());
    for update in &updates {
        if let Some((mode, id)) = update.new {
            written.dangerously_push_entry(
                Default::default(),
                id,
                gix::index::entry::Flags::empty(),
                mode,
                update.path.as_ref(),
            );
        }
    }
    written.sort_entries();
    if !written.entries().is_empty() {
        let mut options = repo
            .checkout_options(
                gix::worktree::stack::state::attributes::Source::WorktreeThenIdMapping,
            )
            .map_err(git("read the checkout options"))?;
        options.destination_is_initially_empty = false;
        options.overwrite_existing = true;
        let objects = repo
            .objects
            .clone()
            .into_arc()
            .map_err(|err| git("open the object database")(gix::Error::from_error(err)))?;
        let outcome = gix::worktree::state::checkout(
            &mut written,
            &workdir,
            objects,
            &gix::progress::Discard,
            &gix::progress::Discard,
            &AtomicBool::new(false),
            options,
        )
        .map_err(git("write the merged files"))?;
        if let Some(failed) = outcome.errors.first() {
            return Err(Error::Io {
                path: workdir.join(failed.path.to_str_lossy().as_ref()),
                source: std::io::Error::other(failed.error.to_string()),
            });
        }
    }

    let snapshot = repo.index_or_empty().map_err(git("read the index"))?;
    let mut index: gix::index::File = gix::index::File::clone(&snapshot);
    index.remove_entries(|_, path, _| touched.contains(path.as_bytes()));
    for entry in written.entries() {
        index.dangerously_push_entry(
            entry.stat,
            entry.id,
            entry.flags,
            entry.mode,
            entry.path(&written),
        );
    }
    index.sort_entries();
    index.remove_tree();
    index
        .write(gix::index::write::Options::default())
        .map_err(|err| git("write the index")(gix::Error::from_error(err)))?;
    Ok(())
}

/// The blobs (files, symlinks, gitlinks) that differ between two trees.
fn tree_updates(
    repo: &gix::Repository,
    old_tree: ObjectId,
    new_tree: ObjectId,
) -> Result<Vec<Update>, gix::Error> {
    let old = repo.find_tree(old_tree)?;
    let new = repo.find_tree(new_tree)?;
    let mut options = gix::diff::Options::default().with_rewrites(None);
    options.track_path();
    let changes = repo.diff_tree_to_tree(&old, &new, options)?;
    let mut updates = Vec::new();
    for change in changes {
        use gix::object::tree::diff::ChangeDetached as Change;
        let path = change.location().to_owned();
        match change {
            Change::Deletion { entry_mode, .. } => {
                if !entry_mode.is_tree() {
                    updates.push(Update { path, new: None });
                }
            }
            Change::Addition { entry_mode, id, .. } => {
                if !entry_mode.is_tree() {
                    updates.push(Update {
                        path,
                        new: Some((index_mode(entry_mode), id)),
                    });
                }
            }
            Change::Modification {
                previous_entry_mode,
                entry_mode,
                id,
                ..
            } => match (previous_entry_mode.is_tree(), entry_mode.is_tree()) {
                (false, false) | (true, false) => updates.push(Update {
                    path,
                    new: Some((index_mode(entry_mode), id)),
                }),
                (false, true) => updates.push(Update { path, new: None }),
                (true, true) => {}
            },
            Change::Rewrite { .. } => {}
        }
    }
    Ok(updates)
}

fn index_mode(mode: gix::object::tree::EntryMode) -> gix::index::entry::Mode {
    use gix::object::tree::EntryKind;
    match mode.kind() {
        EntryKind::BlobExecutable => gix::index::entry::Mode::FILE_EXECUTABLE,
        EntryKind::Link => gix::index::entry::Mode::SYMLINK,
        EntryKind::Commit => gix::index::entry::Mode::COMMIT,
        EntryKind::Blob | EntryKind::Tree => gix::index::entry::Mode::FILE,
    }
}

/// Remove directories left empty by a deletion, up to (not including) the worktree root.
fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(current) = dir {
        if current == root || !current.starts_with(root) || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}
