//! "Is this worktree dirty?" answered the way `git status` finds out, stopping at the first
//! difference: HEAD against the index by tree id (the cached tree when it is valid, else the
//! index's entries hashed as trees in memory), each index entry's stat data against `lstat`
//! of its file (hashing only files whose stat data differs or is racy), and, in the same pass
//! over the folders, the names no entry accounts for: an untracked file that is not ignored
//! counts. Where this scan cannot tell (submodules, a sparse index, a case-insensitive file
//! system), the caller asks gix's full status.

use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode};
use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags as AtFlag, OFlag};

use super::index_file;

/// Whether the worktree of `repo` differs from its HEAD: `None` when only the full status can tell.
pub(crate) fn is_dirty(repo: &gix::Repository) -> Result<Option<bool>, gix::Error> {
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let index = read_index(repo)?;
    let entries = index.entries();
    let caps = repo.filesystem_options()?;
    if index.is_sparse()
        || caps.ignore_case
        || caps.precompose_unicode
        || entries
            .iter()
            .any(|e| e.mode.is_submodule() || e.flags.contains(Flags::SKIP_WORKTREE))
    {
        return Ok(None);
    }
    if entries
        .iter()
        .any(|e| e.stage_raw() != 0 || e.flags.contains(Flags::INTENT_TO_ADD))
    {
        return Ok(Some(true));
    }
    let dirty = !index_is_head(repo, &index)? || worktree_differs(repo, workdir, &index, caps)?;
    Ok(Some(dirty))
}

/// The worktree's index, or an empty one when there is none. Its trailing checksum is not
/// verified, as git verifies it only in `git fsck`: hashing the whole file was about 3% of a
/// clean check on 50,000 files. A damaged index still fails to decode, and entries that do
/// not match their files read as changes, never as clean ones.
fn read_index(repo: &gix::Repository) -> Result<gix::index::State, gix::Error> {
    let path = repo.index_path();
    if !path.is_file() {
        return Ok(gix::index::State::new(repo.object_hash()));
    }
    let file = gix::index::File::at(path, repo.object_hash(), true, Default::default())?;
    Ok(file.into())
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
/// than its index entry, or an untracked file that is not ignored exists. Files whose stat
/// data matches and is not racy are not read. Large indexes are scanned by two threads, each
/// half from its own folder handles; the first difference found stops both.
fn worktree_differs(
    repo: &gix::Repository,
    workdir: &Path,
    index: &gix::index::State,
    caps: gix::fs::Capabilities,
) -> Result<bool, gix::Error> {
    let scan = Scan {
        workdir,
        index,
        options: repo.stat_options()?,
        caps,
        stop: AtomicBool::new(false),
    };
    let entries = index.entries();
    let (first, second) = entries.split_at(folder_boundary(index, entries.len() / 2));
    let found = std::thread::scope(|threads| {
        let other = (!second.is_empty()).then(|| threads.spawn(|| scan.entries(second, false)));
        let found = scan.entries(first, true);
        match other {
            Some(other) => {
                let more = other.join().unwrap_or_else(|_| Ok(Found::Changed));
                found.and_then(|found| Ok(found.and(more?)))
            }
            None => found,
        }
    });
    let (suspects, untracked) = match found? {
        Found::Changed => return Ok(true),
        Found::Suspects { entries, untracked } => (entries, untracked),
    };
    if !suspects.is_empty() {
        let (mut pipeline, _) = repo.filter_pipeline(None)?;
        for at in suspects {
            let entry = &entries[at];
            let rela_path = entry.path(index);
            let symlink = entry.mode == Mode::SYMLINK && caps.symlink;
            if worktree_blob_id(repo, &mut pipeline, workdir, rela_path, symlink, index)?
                != entry.id
            {
                return Ok(true);
            }
        }
    }
    untracked_counts(repo, workdir, index, untracked)
}

/// What a stat scan found: a sure change, or what must be looked at to know: the entries
/// (by position) to read, and the names on disk that no entry accounts for.
enum Found {
    Changed,
    Suspects {
        entries: Vec<usize>,
        untracked: Vec<(BString, Option<Type>)>,
    },
}

impl Found {
    fn and(self, other: Found) -> Found {
        match (self, other) {
            (
                Found::Suspects {
                    mut entries,
                    mut untracked,
                },
                Found::Suspects {
                    entries: more_entries,
                    untracked: more_untracked,
                },
            ) => {
                entries.extend(more_entries);
                untracked.extend(more_untracked);
                // A folder both halves open is listed by both.
                untracked.sort_by(|a, b| a.0.cmp(&b.0));
                untracked.dedup_by(|a, b| a.0 == b.0);
                Found::Suspects { entries, untracked }
            }
            _ => Found::Changed,
        }
    }
}

/// The settings one stat scan compares with, shared by its threads.
struct Scan<'a> {
    workdir: &'a Path,
    index: &'a gix::index::State,
    options: gix::index::entry::stat::Options,
    caps: gix::fs::Capabilities,
    stop: AtomicBool,
}

impl Scan<'_> {
    /// Compares `entries` (a slice of the index's) with their files, stopping at the first
    /// sure change or when another part of the check found one.
    /// With `from_root`, the worktree's top folder is listed too.
    fn entries(&self, entries: &[gix::index::Entry], from_root: bool) -> Result<Found, gix::Error> {
        let found = self.compare(entries, from_root);
        if !matches!(found, Ok(Found::Suspects { .. })) {
            self.stop.store(true, Ordering::Relaxed);
        }
        found
    }

    fn compare(&self, entries: &[gix::index::Entry], from_root: bool) -> Result<Found, gix::Error> {
        let errno = |errno: Errno| gix::Error::from_error(std::io::Error::from(errno));
        let offset = entries
            .first()
            .map_or(0, |first| entry_position(self.index, first));
        let mut folders = Folders::open(self.workdir).map_err(errno)?;
        let mut suspects = Vec::new();
        let mut untracked = Vec::new();
        if from_root {
            self.untracked_in(&[], &mut folders.root, &mut untracked)
                .map_err(errno)?;
        }
        for (at, entry) in entries.iter().enumerate() {
            if at % 256 == 0 && self.stop.load(Ordering::Relaxed) {
                return Ok(Found::Changed);
            }
            let rela_path = entry.path(self.index);
            let folder = &rela_path[..rela_path.rfind_byte(b'/').unwrap_or(0)];
            let opened = match folders.enter(folder) {
                Ok(opened) => opened,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(Found::Changed),
                Err(err) => return Err(errno(err)),
            };
            for open in &mut folders.open[opened..] {
                self.untracked_in(&open.0, &mut open.1, &mut untracked)
                    .map_err(errno)?;
            }
            if entry.flags.contains(Flags::ASSUME_VALID) {
                continue;
            }
            let stat = match folders.lstat(rela_path) {
                Ok(stat) => stat,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(Found::Changed),
                Err(err) => return Err(errno(err)),
            };
            let kind = stat.st_mode & nix::libc::S_IFMT;
            let executable = stat.st_mode & nix::libc::S_IXUSR != 0;
            let same_kind = match entry.mode {
                Mode::FILE | Mode::FILE_EXECUTABLE => {
                    kind == nix::libc::S_IFREG
                        && (!self.caps.executable_bit
                            || executable == (entry.mode == Mode::FILE_EXECUTABLE))
                }
                Mode::SYMLINK if self.caps.symlink => kind == nix::libc::S_IFLNK,
                Mode::SYMLINK => kind == nix::libc::S_IFREG,
                _ => false,
            };
            if !same_kind {
                return Ok(Found::Changed);
            }
            if !entry.stat.matches(&index_stat(&stat), self.options)
                || entry.stat.is_racy(self.index.timestamp(), self.options)
            {
                suspects.push(offset + at);
            }
        }
        Ok(Found::Suspects {
            entries: suspects,
            untracked,
        })
    }

    /// Adds to `out` the names in `folder` (open as `dir`) that no index entry is at or
    /// below, with their type: untracked, maybe ignored. `.git` is never one.
    fn untracked_in(
        &self,
        folder: &[u8],
        dir: &mut Dir,
        out: &mut Vec<(BString, Option<Type>)>,
    ) -> nix::Result<()> {
        let mut prefix = BString::from(folder);
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        let range = self
            .index
            .prefixed_entries_range(prefix.as_bstr())
            .unwrap_or(0..0);
        let mut tracked: Vec<&[u8]> = Vec::new();
        for entry in &self.index.entries()[range] {
            let rest = &entry.path(self.index)[prefix.len()..];
            let name: &[u8] = &rest[..rest.find_byte(b'/').unwrap_or(rest.len())];
            if tracked.last() != Some(&name) {
                tracked.push(name);
            }
        }
        tracked.sort_unstable();
        tracked.dedup();
        for entry in dir.iter() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if matches!(name, b"." | b".." | b".git") || tracked.binary_search(&name).is_ok() {
                continue;
            }
            let mut path = prefix.clone();
            path.extend_from_slice(name);
            out.push((path, entry.file_type()));
        }
        Ok(())
    }
}

/// The position of `entry` in `index`'s entries (it is one of them).
fn entry_position(index: &gix::index::State, entry: &gix::index::Entry) -> usize {
    let size = std::mem::size_of::<gix::index::Entry>();
    (entry as *const gix::index::Entry as usize - index.entries().as_ptr() as usize) / size
}

/// The first position at or after `at` where a new folder starts, so that each half of a
/// split scan opens its own folders.
fn folder_boundary(index: &gix::index::State, at: usize) -> usize {
    let entries = index.entries();
    if at == 0 || at >= entries.len() || entries.len() < PARALLEL_FROM {
        return entries.len();
    }
    let folder = |entry: &gix::index::Entry| {
        let path = entry.path(index);
        path[..path.rfind_byte(b'/').unwrap_or(0)].to_owned()
    };
    let split_folder = folder(&entries[at - 1]);
    at + entries[at..]
        .iter()
        .take_while(|entry| folder(entry) == split_folder)
        .count()
}

/// Below this many entries one thread scans them all.
const PARALLEL_FROM: usize = 4096;

/// The index's stat data for an `lstat` result, truncated as git truncates it.
fn index_stat(stat: &nix::sys::stat::FileStat) -> gix::index::entry::Stat {
    let time = |secs: i64, nsecs: i64| gix::index::entry::stat::Time {
        secs: u32::try_from(secs).unwrap_or_default(),
        nsecs: u32::try_from(nsecs).unwrap_or_default(),
    };
    gix::index::entry::Stat {
        mtime: time(stat.st_mtime, stat.st_mtime_nsec),
        ctime: time(stat.st_ctime, stat.st_ctime_nsec),
        dev: stat.st_dev as u32,
        ino: stat.st_ino as u32,
        uid: stat.st_uid,
        gid: stat.st_gid,
        size: stat.st_size as u32,
    }
}

/// Open handles of the folders along the current path, so that each file is looked up by its
/// name alone and no symlink is followed on the way (a folder replaced by a symlink reads as
/// gone, as git sees it). Index entries come sorted, so consecutive files share folders.
struct Folders {
    root: Dir,
    open: Vec<(Vec<u8>, Dir)>,
}

impl Folders {
    fn open(workdir: &Path) -> nix::Result<Folders> {
        Ok(Folders {
            root: Dir::open(workdir, Self::FLAGS, nix::sys::stat::Mode::empty())?,
            open: Vec::new(),
        })
    }

    const FLAGS: OFlag = OFlag::O_RDONLY
        .union(OFlag::O_DIRECTORY)
        .union(OFlag::O_NOFOLLOW)
        .union(OFlag::O_CLOEXEC);

    /// `lstat` of the worktree file at `rela_path`, whose folder was [entered](Self::enter).
    fn lstat(&self, rela_path: &BStr) -> nix::Result<nix::sys::stat::FileStat> {
        let name = &rela_path[rela_path.rfind_byte(b'/').map_or(0, |slash| slash + 1)..];
        let parent = self.open.last().map_or(&self.root, |(_, dir)| dir);
        nix::sys::stat::fstatat(
            parent,
            std::ffi::OsStr::from_bytes(name),
            AtFlag::AT_SYMLINK_NOFOLLOW,
        )
    }

    /// Makes the innermost open folder `folder`, closing and opening only what differs;
    /// returns the position in `open` of the first folder it opened.
    fn enter(&mut self, folder: &[u8]) -> nix::Result<usize> {
        while let Some((open, _)) = self.open.last() {
            if folder.starts_with(open) && matches!(folder.get(open.len()), None | Some(b'/')) {
                break;
            }
            self.open.pop();
        }
        let opened = self.open.len();
        let mut at = self.open.last().map_or(0, |(open, _)| open.len() + 1);
        while at < folder.len() {
            let end = folder[at..]
                .find_byte(b'/')
                .map_or(folder.len(), |slash| at + slash);
            let parent = self.open.last().map_or(&self.root, |(_, dir)| dir);
            let dir = Dir::openat(
                parent,
                std::ffi::OsStr::from_bytes(&folder[at..end]),
                Self::FLAGS,
                nix::sys::stat::Mode::empty(),
            )?;
            self.open.push((folder[..end].to_vec(), dir));
            at = end + 1;
        }
        Ok(opened)
    }
}

/// The blob id `git add` would record for the file at `rela_path` (through the clean filters
/// and eol conversion), without writing it; with `symlink`, the id of the link's target.
fn worktree_blob_id(
    repo: &gix::Repository,
    pipeline: &mut gix::filter::Pipeline<'_>,
    workdir: &Path,
    rela_path: &BStr,
    symlink: bool,
    index: &gix::index::State,
) -> Result<gix::ObjectId, gix::Error> {
    let relative = gix::path::from_bstr(rela_path)?;
    let path = workdir.join(&relative);
    let io = gix::Error::from_error;
    let data = if symlink {
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

/// Whether one of the `untracked` names (files, symlinks, folders no entry is below) is not
/// ignored, or is a folder holding such a file or a nested repository, as `git status` would
/// list it. Other kinds of files (FIFOs, sockets) are not listed by git either.
fn untracked_counts(
    repo: &gix::Repository,
    workdir: &Path,
    index: &gix::index::State,
    untracked: Vec<(BString, Option<Type>)>,
) -> Result<bool, gix::Error> {
    if untracked.is_empty() {
        return Ok(false);
    }
    let mut excludes = repo.excludes(
        index,
        None,
        gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
    )?;
    let mut pending: Vec<(BString, Option<Type>)> = untracked;
    while let Some((path, kind)) = pending.pop() {
        let full = workdir.join(gix::path::from_bstr(path.as_bstr())?);
        let kind = match kind {
            Some(kind) => kind,
            None => match std::fs::symlink_metadata(&full) {
                Ok(meta) if meta.is_dir() => Type::Directory,
                Ok(meta) if meta.is_file() => Type::File,
                Ok(meta) if meta.is_symlink() => Type::Symlink,
                Ok(_) | Err(_) => continue,
            },
        };
        let mode = match kind {
            Type::Directory => Mode::DIR,
            Type::File | Type::Symlink => Mode::FILE,
            _ => continue,
        };
        if excludes.at_entry(path.as_bstr(), Some(mode))?.is_excluded() {
            continue;
        }
        if kind != Type::Directory || full.join(".git").exists() {
            return Ok(true);
        }
        let listing = match std::fs::read_dir(&full) {
            Ok(listing) => listing,
            // Gone or unreadable since it was listed: git would not list it either.
            Err(_) => continue,
        };
        for entry in listing {
            let entry = entry.map_err(gix::Error::from_error)?;
            let mut inner = path.clone();
            inner.push(b'/');
            inner.extend_from_slice(entry.file_name().as_bytes());
            let kind = entry.file_type().ok().map(|kind| {
                if kind.is_dir() {
                    Type::Directory
                } else if kind.is_symlink() {
                    Type::Symlink
                } else if kind.is_file() {
                    Type::File
                } else {
                    Type::Fifo
                }
            });
            pending.push((inner, kind));
        }
    }
    Ok(false)
}
