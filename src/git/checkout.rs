//! Bringing a checked-out branch from one commit to another, as `git merge` does after it
//! has made its commit: only the files that differ between the two trees are written or
//! deleted, the index keeps every other entry (and its stat data and staged state), and
//! nothing at all changes when a local change would be overwritten.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};

use super::repo::absolute;
use super::status::{changed_paths, pathspec_literal};
use super::{dirty, index_file};
use crate::error::list_cut;
use gix::index::entry::Stage;

/// Why the worktree could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "local changes in {} would be overwritten: {}; commit, stash or move them, then merge again (nothing was changed)",
        worktree.display(), list_cut(paths.iter().map(|p| p.display()))
    )]
    LocalChanges {
        worktree: PathBuf,
        paths: Vec<PathBuf>,
    },
    #[error(
        "an interrupted merge into the worktree at {} cannot be undone: {} changed since; \
         look at them with `git status`, keep what you need, then `git checkout -- <path>` them",
        worktree.display(), list_cut(paths.iter().map(|p| p.display()))
    )]
    ChangedSince {
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

/// One path that differs between the old and the new tree: its blob on each side (`None`
/// where that side has no blob there: nothing, or a folder).
struct Update {
    path: BString,
    old: Option<Blob>,
    new: Option<Blob>,
}

type Blob = (gix::index::entry::Mode, ObjectId);

/// Going from one tree to another in a worktree, checked and ready to apply.
pub(crate) struct TreeUpdate<'r> {
    workdir: PathBuf,
    repo: Handle<'r>,
    updates: Vec<Update>,
    /// The tree the update goes to: the index's cached tree afterwards, if the index equals it.
    target: ObjectId,
}

/// The repository an update reads and writes through: the caller's, when it has the
/// worktree open already (its object cache then holds the trees just merged), else one
/// opened for the update. The index is read from its file either way ([`index_file::read`]).
enum Handle<'r> {
    Borrowed(&'r gix::Repository),
    Opened(Box<gix::Repository>),
}

impl std::ops::Deref for Handle<'_> {
    type Target = gix::Repository;

    fn deref(&self) -> &gix::Repository {
        match self {
            Handle::Borrowed(repo) => repo,
            Handle::Opened(repo) => repo,
        }
    }
}

impl<'r> TreeUpdate<'r> {
    /// Plans going from `old_tree` to `new_tree` in the worktree at `workdir` and checks that
    /// nothing local stands in the way: a staged, modified or untracked file (ignored ones
    /// included) at a path the update writes or deletes, a file or symlink where it needs a
    /// folder, or a file of the user's inside a folder it turns into a file. Nothing is changed.
    pub(crate) fn prepare(
        workdir: &Path,
        old_tree: ObjectId,
        new_tree: ObjectId,
    ) -> Result<TreeUpdate<'static>, Error> {
        TreeUpdate::between(workdir, old_tree, new_tree)?.checked()
    }

    /// [`TreeUpdate::prepare`] through `repo`, whose worktree `workdir` (absolute) is.
    pub(crate) fn prepare_in(
        repo: &'r gix::Repository,
        workdir: &Path,
        old_tree: ObjectId,
        new_tree: ObjectId,
    ) -> Result<TreeUpdate<'r>, Error> {
        TreeUpdate::planned(
            workdir.to_owned(),
            Handle::Borrowed(repo),
            old_tree,
            new_tree,
        )?
        .checked()
    }

    /// The update from `old_tree` to `new_tree` in the worktree at `workdir`, unchecked.
    fn between(
        workdir: &Path,
        old_tree: ObjectId,
        new_tree: ObjectId,
    ) -> Result<TreeUpdate<'static>, Error> {
        let workdir = absolute(workdir);
        let repo = gix::open(&workdir).map_err(git_error(&workdir)("open the repository"))?;
        TreeUpdate::planned(workdir, Handle::Opened(Box::new(repo)), old_tree, new_tree)
    }

    fn planned(
        workdir: PathBuf,
        repo: Handle<'r>,
        old_tree: ObjectId,
        new_tree: ObjectId,
    ) -> Result<TreeUpdate<'r>, Error> {
        let updates = tree_updates(&repo, old_tree, new_tree)
            .map_err(git_error(&workdir)("compare the trees"))?;
        Ok(TreeUpdate {
            workdir,
            repo,
            updates,
            target: new_tree,
        })
    }

    /// This update, unless something local is in the way (see [`TreeUpdate::prepare`]).
    fn checked(self) -> Result<TreeUpdate<'r>, Error> {
        if self.updates.is_empty() {
            return Ok(self);
        }
        // Whatever the old tree has at a path is the merge's to replace, unless it was
        // changed locally (found first).
        let tracked: BTreeSet<&[u8]> = self
            .updates
            .iter()
            .filter(|u| u.old.is_some())
            .map(|u| u.path.as_slice())
            .collect();
        let mut in_the_way = self.local_changes(&tracked)?;
        in_the_way.extend(obstructions(&self.workdir, &self.updates, &tracked)?);
        if !in_the_way.is_empty() {
            return Err(Error::LocalChanges {
                worktree: self.workdir,
                paths: in_the_way.into_iter().collect(),
            });
        }
        Ok(self)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// Staged or modified paths that the update writes or deletes, and files staged where it
    /// needs a folder; untracked ones are [`obstructions`]. Each touched path is looked up
    /// in the index and its file compared with its entry, as git's merge checks them,
    /// without a status of the worktree; where that comparison cannot tell (submodules, an
    /// unmerged index: see [`dirty`]), gix's status of the touched paths answers.
    /// `tracked`: the paths the old tree has a blob at.
    fn local_changes(&self, tracked: &BTreeSet<&[u8]>) -> Result<BTreeSet<PathBuf>, Error> {
        let git = git_error(&self.workdir);
        let index = index_file::read(&self.repo).map_err(git("read the index"))?;
        let name = |path: &[u8]| PathBuf::from(path.to_str_lossy().into_owned());
        let mut found = BTreeSet::new();
        let mut to_compare = Vec::new();
        for update in &self.updates {
            let at =
                index.entry_index_by_path_and_stage(update.path.as_bstr(), Stage::Unconflicted);
            match (update.old, at) {
                (Some((mode, id)), Some(at))
                    if index.entries()[at].id == id && index.entries()[at].mode == mode =>
                {
                    to_compare.push(at);
                }
                (None, None) => {}
                // Staged: another blob, a deletion or an addition.
                _ => {
                    found.insert(name(&update.path));
                }
            }
            for (end, _) in update.path.iter().enumerate().filter(|(_, b)| **b == b'/') {
                let ancestor = &update.path[..end];
                if !tracked.contains(ancestor)
                    && index.entry_index_by_path(ancestor.as_bstr()).is_ok()
                {
                    found.insert(name(ancestor));
                }
            }
        }
        to_compare.sort_unstable();
        to_compare.dedup();
        let index: gix::index::State = index.into();
        match dirty::changed_entries(&self.repo, &index, &to_compare)
            .map_err(git("compare the files"))?
        {
            Some(changed) => {
                found.extend(
                    changed
                        .iter()
                        .map(|&at| name(index.entries()[at].path(&index))),
                );
                Ok(found)
            }
            None => self.local_changes_by_status(),
        }
    }

    /// [`TreeUpdate::local_changes`] by gix's status of the touched paths.
    fn local_changes_by_status(&self) -> Result<BTreeSet<PathBuf>, Error> {
        let git = git_error(&self.workdir);
        let patterns = self
            .updates
            .iter()
            .map(|update| pathspec_literal(Path::new(update.path.to_str_lossy().as_ref())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(git("select the changed paths"))?;
        let local =
            changed_paths(&self.repo, patterns, false).map_err(git("compute the status"))?;
        let touched: BTreeSet<&[u8]> = self.updates.iter().map(|u| u.path.as_slice()).collect();
        Ok(local
            .iter()
            .filter(|path| {
                let path = path.as_slice();
                touched.contains(path)
                    || touched
                        .iter()
                        .any(|t| t.starts_with(path) && t.get(path.len()) == Some(&b'/'))
            })
            .map(|path| PathBuf::from(path.to_str_lossy().into_owned()))
            .collect())
    }

    /// Writes and deletes the files and updates the index. The caller moves the ref after.
    pub(crate) fn apply(&self) -> Result<(), Error> {
        apply(&self.repo, &self.workdir, &self.updates, self.target)
    }
}

/// Goes from `old_tree` to `new_tree` in a worktree conflux owns (a change's), refusing when
/// anything local is in the way.
pub(crate) fn update_worktree(
    workdir: &Path,
    old_tree: ObjectId,
    new_tree: ObjectId,
) -> Result<(), Error> {
    TreeUpdate::prepare(workdir, old_tree, new_tree)?.apply()
}

/// Brings every path that an update from `old_tree` to `new_tree` touches back to `old_tree`,
/// in files and index: the undo of an update that was cut short (a crash, a full disk).
/// A path is only rewritten while it holds what one of the two trees has there (or nothing);
/// anything else there is someone's later work, and then nothing is changed. Returns how
/// many paths it restored.
pub(crate) fn roll_back(
    workdir: &Path,
    old_tree: ObjectId,
    new_tree: ObjectId,
) -> Result<usize, Error> {
    let TreeUpdate {
        workdir,
        repo,
        updates,
        ..
    } = TreeUpdate::between(workdir, old_tree, new_tree)?;
    let git = git_error(&workdir);
    let back: Vec<Update> = updates
        .into_iter()
        .map(|u| Update {
            path: u.path,
            old: u.new,
            new: u.old,
        })
        .collect();
    let (mut pipeline, index) = repo
        .filter_pipeline(None)
        .map_err(git("read the filters"))?;
    let mut expendable = BTreeSet::new();
    let mut foreign = BTreeSet::new();
    for update in &back {
        let path = workdir.join(update.path.to_str_lossy().as_ref());
        let known = |id: ObjectId| [update.old, update.new].iter().flatten().any(|b| b.1 == id);
        match std::fs::symlink_metadata(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                expendable.insert(update.path.as_slice());
            }
            Err(source) => return Err(Error::Io { path, source }),
            // A folder where one side has one: what is inside is checked below.
            Ok(meta) if meta.is_dir() => {
                if update.old.is_some() && update.new.is_some() {
                    foreign.insert(PathBuf::from(update.path.to_str_lossy().into_owned()));
                }
            }
            Ok(_) => {
                let id = pipeline
                    .worktree_file_to_object(update.path.as_bstr(), &index)
                    .map_err(git("hash a file"))?
                    .map(|(id, _, _)| id);
                if id.is_some_and(known) || cut_short(&repo, &path, update.old) {
                    expendable.insert(update.path.as_slice());
                } else {
                    foreign.insert(PathBuf::from(update.path.to_str_lossy().into_owned()));
                }
            }
        }
    }
    foreign.extend(obstructions(&workdir, &back, &expendable)?);
    if !foreign.is_empty() {
        return Err(Error::ChangedSince {
            worktree: workdir,
            paths: foreign.into_iter().collect(),
        });
    }
    drop(pipeline);
    apply(&repo, &workdir, &back, old_tree)?;
    Ok(back.len())
}

/// Whether the file at `path` is a write of `blob` that stopped part-way: a strict prefix of
/// its content (a file is written front to back, so a killed write leaves one).
fn cut_short(repo: &gix::Repository, path: &Path, blob: Option<Blob>) -> bool {
    let Some((_, id)) = blob else {
        return false;
    };
    let (Ok(written), Ok(blob)) = (std::fs::read(path), repo.find_blob(id)) else {
        return false;
    };
    written.len() < blob.data.len() && blob.data.starts_with(&written)
}

fn git_error(
    workdir: &Path,
) -> impl Fn(&'static str) -> Box<dyn FnOnce(gix::Error) -> Error> + use<> {
    let workdir = workdir.to_owned();
    move |action| {
        let worktree = workdir.clone();
        Box::new(move |source| Error::Git {
            action,
            worktree,
            source,
        })
    }
}

/// What stands in the way of `updates` on disk, besides the `expendable` paths (which the
/// update may replace): a file, symlink or special file where a folder is needed (a symlink
/// is never followed out of the worktree), anything at a path the update adds, and any file
/// inside a folder that the update turns into a file.
fn obstructions(
    workdir: &Path,
    updates: &[Update],
    expendable: &BTreeSet<&[u8]>,
) -> Result<BTreeSet<PathBuf>, Error> {
    let mut found = BTreeSet::new();
    let mut folders: HashSet<&[u8]> = HashSet::new();
    let lstat = |rel: &[u8]| {
        let path = workdir.join(rel.to_str_lossy().as_ref());
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => Ok(Some(meta)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    };
    let name = |rel: &[u8]| PathBuf::from(rel.to_str_lossy().into_owned());
    'updates: for update in updates {
        let rel = update.path.as_slice();
        for (end, _) in rel.iter().enumerate().filter(|(_, byte)| **byte == b'/') {
            let ancestor = &rel[..end];
            if folders.contains(ancestor) {
                continue;
            }
            match lstat(ancestor)? {
                None => continue 'updates,
                Some(meta) if meta.is_dir() => {
                    folders.insert(ancestor);
                }
                Some(_) => {
                    if !expendable.contains(ancestor) {
                        found.insert(name(ancestor));
                    }
                    continue 'updates;
                }
            }
        }
        if update.new.is_none() {
            continue;
        }
        match lstat(rel)? {
            None => {}
            Some(meta) if meta.is_dir() => {
                files_below(workdir, rel, &mut |inner| {
                    if !expendable.contains(inner) {
                        found.insert(name(inner));
                    }
                })?;
            }
            Some(_) if update.old.is_none() && !expendable.contains(rel) => {
                found.insert(name(rel));
            }
            Some(_) => {}
        }
    }
    Ok(found)
}

/// Calls `each` with the worktree-relative path of every non-folder below `rel`, without
/// following symlinks.
fn files_below(workdir: &Path, rel: &[u8], each: &mut dyn FnMut(&[u8])) -> Result<(), Error> {
    let dir = workdir.join(rel.to_str_lossy().as_ref());
    let io = |source| Error::Io {
        path: dir.clone(),
        source,
    };
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let mut inner = BString::from(rel);
        inner.push(b'/');
        inner.extend_from_slice(entry.file_name().as_encoded_bytes());
        if entry.file_type().map_err(io)?.is_dir() {
            files_below(workdir, &inner, each)?;
        } else {
            each(&inner);
        }
    }
    Ok(())
}

/// Deletions first (so a folder can become a file and a file a folder), then the writes,
/// then the index: the touched entries replaced, every other entry kept as it was (and a
/// cached tree for `target` when the index then equals it).
fn apply(
    repo: &gix::Repository,
    workdir: &Path,
    updates: &[Update],
    target: ObjectId,
) -> Result<(), Error> {
    if updates.is_empty() {
        return Ok(());
    }
    let git = git_error(workdir);
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
        remove_empty_parents(workdir, &path);
    }

    let mut written = gix::index::State::new(repo.object_hash());
    for update in updates {
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
            workdir,
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

    let touched: BTreeSet<&[u8]> = updates.iter().map(|u| u.path.as_slice()).collect();
    let mut index = index_file::read(repo).map_err(git("read the index"))?;
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
    index_file::write(index, Some(target)).map_err(git("write the index"))?;
    Ok(())
}

/// The blobs (files, symlinks, gitlinks) that differ between two trees.
fn tree_updates(
    repo: &gix::Repository,
    old_tree: ObjectId,
    new_tree: ObjectId,
) -> Result<Vec<Update>, gix::Error> {
    // The plain tree diff: without rename tracking, `diff_tree_to_tree` would only add the
    // set-up of a blob-diff cache (attributes and all) to each merge.
    let old = repo.find_tree(old_tree)?;
    let new = repo.find_tree(new_tree)?;
    let mut recorder = gix::diff::tree::Recorder::default();
    gix::diff::tree(
        gix::objs::TreeRefIter::from_bytes(&old.data, repo.object_hash()),
        gix::objs::TreeRefIter::from_bytes(&new.data, repo.object_hash()),
        gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )
    .map_err(gix::Error::from_error)?;
    let mut updates = Vec::new();
    for change in recorder.records {
        use gix::diff::tree::recorder::Change;
        match change {
            Change::Deletion {
                entry_mode,
                oid: id,
                path,
                ..
            } => {
                if !entry_mode.is_tree() {
                    updates.push(Update {
                        path,
                        old: Some((index_mode(entry_mode), id)),
                        new: None,
                    });
                }
            }
            Change::Addition {
                entry_mode,
                oid: id,
                path,
                ..
            } => {
                if !entry_mode.is_tree() {
                    updates.push(Update {
                        path,
                        old: None,
                        new: Some((index_mode(entry_mode), id)),
                    });
                }
            }
            Change::Modification {
                previous_entry_mode,
                previous_oid: previous_id,
                entry_mode,
                oid: id,
                path,
            } => {
                let blob = |mode: gix::object::tree::EntryMode, id| {
                    (!mode.is_tree()).then(|| (index_mode(mode), id))
                };
                let (old, new) = (blob(previous_entry_mode, previous_id), blob(entry_mode, id));
                if old.is_some() || new.is_some() {
                    updates.push(Update { path, old, new });
                }
            }
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
