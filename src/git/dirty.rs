//! "Is this worktree dirty?" answered the way `git status` finds out, stopping at the first
//! difference: HEAD against the index by tree id (the cached tree when it is valid, else the
//! index's entries hashed as trees in memory), each index entry's stat data against `lstat`
//! of its file (hashing only files whose stat data differs or is racy), then a walk for one
//! untracked, not ignored file. Where this scan cannot tell (submodules, a sparse index), the
//! caller asks gix's full status.

use std::io::Read as _;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::bstr::BStr;
use gix::index::entry::{Flags, Mode};

use super::index_file;

/// Whether the worktree of `repo` differs from its HEAD: `None` when only the full status can tell.
pub(crate) fn is_dirty(repo: &gix::Repository) -> Result<Option<bool>, gix::Error> {
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let index = repo.index_or_empty()?;
    let entries = index.entries();
    if index.is_sparse() || entries.iter().any(|e| e.mode.is_submodule()) {
        return Ok(None);
    }
    if entries
        .iter()
        .any(|e| e.stage_raw() != 0 || e.flags.contains(Flags::INTENT_TO_ADD))
    {
        return Ok(Some(true));
    }
    let dirty = !index_is_head(repo, &index)?
        || tracked_file_changed(repo, workdir, &index)?
        || untracked_file_exists(repo, &index)?;
    Ok(Some(dirty))
}

/// Whether the index holds HEAD's tree, by id: git's cached tree when it is valid, else the
/// tree the entries make (hashed, not written).
fn index_is_head(repo: &gix::Repository, index: &gix::index::State) -> Result<bool, gix::Error> {
    let head = repo.head_tree_id_or_empty()?.detach();
    if let Some(cached) = index.tree()
        && cached.num_entries.map(|n| n as usize) == Some(index.entries().len())
    {
        return Ok(cached.id == head);
    }
    Ok(index_file::cache_tree(index, &mut |_, _| Ok(()))?.is_some_and(|tree| tree.id == head))
}

/// Whether a tracked file was deleted, changed type or executable bit, or holds other content
/// than its index entry. Files whose stat data matches and is not racy are not read.
fn tracked_file_changed(
    repo: &gix::Repository,
    workdir: &Path,
    index: &gix::index::State,
) -> Result<bool, gix::Error> {
    let options = repo.stat_options()?;
    let caps = repo.filesystem_options()?;
    let timestamp = index.timestamp();
    let mut suspects = Vec::new();
    for entry in index.entries() {
        if entry
            .flags
            .intersects(Flags::SKIP_WORKTREE | Flags::ASSUME_VALID)
        {
            continue;
        }
        let path = workdir.join(gix::path::from_bstr(entry.path(index))?);
        let metadata = match gix::index::fs::Metadata::from_path_no_follow(&path) {
            Ok(metadata) => metadata,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(true);
            }
            Err(err) => return Err(gix::Error::from_error(err)),
        };
        let same_kind = match entry.mode {
            Mode::FILE | Mode::FILE_EXECUTABLE => {
                metadata.is_file()
                    && (!caps.executable_bit
                        || metadata.is_executable() == (entry.mode == Mode::FILE_EXECUTABLE))
            }
            Mode::SYMLINK if caps.symlink => metadata.is_symlink(),
            Mode::SYMLINK => metadata.is_file(),
            _ => false,
        };
        if !same_kind {
            return Ok(true);
        }
        let stat = gix::index::entry::Stat::from_fs(&metadata).map_err(gix::Error::from_error)?;
        if !entry.stat.matches(&stat, options) || entry.stat.is_racy(timestamp, options) {
            suspects.push(entry);
        }
    }
    if suspects.is_empty() {
        return Ok(false);
    }
    let (mut pipeline, _) = repo.filter_pipeline(None)?;
    for entry in suspects {
        let rela_path = entry.path(index);
        if worktree_blob_id(repo, &mut pipeline, workdir, rela_path, entry.mode, index)? != entry.id
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The blob id `git add` would record for the file at `rela_path` (through the clean filters
/// and eol conversion), without writing it.
fn worktree_blob_id(
    repo: &gix::Repository,
    pipeline: &mut gix::filter::Pipeline<'_>,
    workdir: &Path,
    rela_path: &BStr,
    mode: Mode,
    index: &gix::index::State,
) -> Result<gix::ObjectId, gix::Error> {
    let relative = gix::path::from_bstr(rela_path)?;
    let path = workdir.join(&relative);
    let io = gix::Error::from_error;
    let data = if mode == Mode::SYMLINK && repo.filesystem_options()?.symlink {
        gix::path::into_bstr(std::fs::read_link(&path).map_err(io)?)?
            .into_owned()
            .into()
    } else {
        use gix::filter::plumbing::pipeline::convert::ToGitOutcome;
        let file = std::fs::File::open(&path).map_err(io)?;
        let mut data = Vec::new();
        match pipeline.convert_to_git(file, &relative, index)? {
            ToGitOutcome::Unchanged(mut file) => {
                file.read_to_end(&mut data).map_err(io)?;
            }
            ToGitOutcome::Process(mut read) => {
                read.read_to_end(&mut data).map_err(io)?;
            }
            ToGitOutcome::Buffer(buf) => data.extend_from_slice(buf),
        }
        data
    };
    gix::objs::compute_hash(repo.object_hash(), gix::objs::Kind::Blob, &data)
}

/// Whether the worktree holds an untracked file that is not ignored (a directory of only
/// ignored files, or an empty one, is not). The walk stops at the first.
fn untracked_file_exists(
    repo: &gix::Repository,
    index: &gix::index::State,
) -> Result<bool, gix::Error> {
    let options = repo
        .dirwalk_options()?
        .emit_untracked(gix::dir::walk::EmissionMode::CollapseDirectory)
        .emit_ignored(None)
        .emit_tracked(false)
        .emit_pruned(false)
        .emit_empty_directories(false)
        .empty_patterns_match_prefix(false);
    let mut first = FirstUntracked(false);
    repo.dirwalk(
        index,
        None::<&BStr>,
        &AtomicBool::new(false),
        options,
        &mut first,
    )?;
    Ok(first.0)
}

/// Remembers whether an untracked entry was seen, and stops the walk there.
struct FirstUntracked(bool);

impl gix::dir::walk::Delegate for FirstUntracked {
    fn emit(
        &mut self,
        entry: gix::dir::EntryRef<'_>,
        _collapsed_directory_status: Option<gix::dir::entry::Status>,
    ) -> gix::dir::walk::Action {
        if entry.status == gix::dir::entry::Status::Untracked {
            self.0 = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}
