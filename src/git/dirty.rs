//! What differs between a worktree and its index, found the way `git status` finds out: each
//! index entry's stat data against `lstat` of its file (hashing only files whose stat data
//! differs or is racy), and, in the same pass over the folders, the names no entry accounts
//! for: untracked files that are not ignored. One scan serves two callers: the dirty check
//! ([`is_dirty`], which also compares HEAD with the index and stops at the first difference)
//! and the commit ([`scan`] to the end: what `git add -A` would stage). Where this scan
//! cannot tell (submodules, a sparse index, a case-insensitive file system, unmerged or
//! intent-to-add entries), the callers ask gix's full status.
//!
//! Racy entries: an entry whose file's mtime is not older than the index file's could have
//! been changed after the index recorded it without its stat data changing, and is read.
//! git compares whole seconds; within one second this scan compares nanoseconds when the
//! file and the index live on the same file system, so that the files a checkout wrote in
//! the second it wrote the index are not all read again (see [`Scan::unchanged`]).

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
    let index: gix::index::State = index_file::read(repo)?.into();
    let caps = repo.filesystem_options()?;
    if beyond_the_scan(&index, caps) {
        return Ok(None);
    }
    if unrecordable(&index) {
        return Ok(Some(true));
    }
    if !index_is_head(repo, &index)? {
        return Ok(Some(true));
    }
    let changes = worktree_changes(repo, workdir, &index, caps, Until::FirstChange)?;
    Ok(Some(!changes.is_empty()))
}

/// How far a [`scan`] goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Stop at the first difference (the result then holds at most one).
    FirstChange,
    /// Find every difference.
    End,
}

/// The differences between a worktree and its index: what `git add -A` would stage. Entries
/// are named by their position in the index's entries.
#[derive(Default)]
pub(crate) struct Changes {
    /// Entries whose file is gone, or is a folder now.
    pub(crate) removed: Vec<usize>,
    /// Entries whose file holds other content, or changed type or executable bit: to hash.
    pub(crate) modified: Vec<usize>,
    /// Entries whose file holds what they record but whose stat data changed, with the new
    /// stat data (for the next index).
    pub(crate) refreshed: Vec<(usize, gix::index::entry::Stat)>,
    /// Unmerged paths (only gix's full status reports them: the scan declines such indexes).
    pub(crate) unmerged: Vec<BString>,
    /// Paths no entry accounts for and no ignore rule excludes, sorted: files, symlinks, and
    /// folders holding a repository of their own.
    pub(crate) untracked: Vec<BString>,
}

impl Changes {
    /// Whether the worktree holds what the index records (stat data aside).
    pub(crate) fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.modified.is_empty()
            && self.unmerged.is_empty()
            && self.untracked.is_empty()
    }
}

/// What differs between the worktree of `repo` and `index` (the worktree's), up to `until`;
/// `None` when only gix's full status can tell (see the module's doc).
pub(crate) fn scan(
    repo: &gix::Repository,
    index: &gix::index::State,
    until: Until,
) -> Result<Option<Changes>, gix::Error> {
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let caps = repo.filesystem_options()?;
    if beyond_the_scan(index, caps) || unrecordable(index) {
        return Ok(None);
    }
    worktree_changes(repo, workdir, index, caps, until).map(Some)
}

/// Which of the entries of `index` (the worktree's) at `positions` (sorted) hold something
/// else in the worktree of `repo` than they record: gone, a folder or another kind of file,
/// or other content, read only where the stat data cannot tell, as the scan reads. Asks
/// about a few paths (those a merge writes) without listing any folder. `None` when only
/// gix's full status can tell (see the module's doc).
pub(crate) fn changed_entries(
    repo: &gix::Repository,
    index: &gix::index::State,
    positions: &[usize],
) -> Result<Option<Vec<usize>>, gix::Error> {
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let caps = repo.filesystem_options()?;
    if beyond_the_scan(index, caps) || unrecordable(index) {
        return Ok(None);
    }
    let errno = |errno: Errno| gix::Error::from_error(std::io::Error::from(errno));
    let scan = Scan::new(repo, workdir, index, caps, Until::End)?;
    let mut folders = Folders::open(workdir).map_err(errno)?;
    let mut found = Found::default();
    for &at in positions {
        let entry = &index.entries()[at];
        if entry.flags.contains(Flags::ASSUME_VALID) {
            continue;
        }
        let rela_path = entry.path(index);
        let folder = &rela_path[..rela_path.rfind_byte(b'/').unwrap_or(0)];
        let stat = match folders
            .enter(folder)
            .1
            .and_then(|()| folders.lstat(rela_path))
        {
            Ok(stat) => stat,
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => {
                found.removed.push(at);
                continue;
            }
            Err(err) => return Err(errno(err)),
        };
        match scan.judge(entry, &stat) {
            Verdict::Folder => found.removed.push(at),
            Verdict::Modified => found.modified.push(at),
            Verdict::Suspect => found.suspects.push((at, index_stat(&stat))),
            Verdict::Unchanged => {}
        }
    }
    let found = scan.read_suspects(repo, found)?;
    let mut changed = found.removed;
    changed.extend(found.modified);
    changed.sort_unstable();
    Ok(Some(changed))
}

/// Whether `index` or the file system has what the stat scan does not handle: a sparse index,
/// submodules, skip-worktree entries, case folding or Unicode precomposition.
fn beyond_the_scan(index: &gix::index::State, caps: gix::fs::Capabilities) -> bool {
    index.is_sparse()
        || caps.ignore_case
        || caps.precompose_unicode
        || index
            .entries()
            .iter()
            .any(|e| e.mode.is_submodule() || e.flags.contains(Flags::SKIP_WORKTREE))
}

/// Whether `index` has entries that no tree can record: unmerged or intent-to-add ones.
fn unrecordable(index: &gix::index::State) -> bool {
    index
        .entries()
        .iter()
        .any(|e| e.stage_raw() != 0 || e.flags.contains(Flags::INTENT_TO_ADD))
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

/// The tracked files that were deleted, changed type or executable bit, or hold other content
/// than their index entry, and the untracked files that are not ignored. Files whose stat
/// data matches and is not racy are not read. Large indexes are scanned by two threads, each
/// half from its own folder handles; with [`Until::FirstChange`] the first difference found
/// stops both.
fn worktree_changes(
    repo: &gix::Repository,
    workdir: &Path,
    index: &gix::index::State,
    caps: gix::fs::Capabilities,
    until: Until,
) -> Result<Changes, gix::Error> {
    let scan = Scan::new(repo, workdir, index, caps, until)?;
    let entries = index.entries();
    let (first, second) = entries.split_at(folder_boundary(index, entries.len() / 2));
    let other_repo = repo.clone();
    let found = std::thread::scope(|threads| {
        let scan = &scan;
        let other = (!second.is_empty())
            .then(|| threads.spawn(move || scan.entries(&other_repo, second, false)));
        let found = scan.entries(repo, first, true);
        match other {
            Some(other) => {
                let more = other.join().unwrap_or_else(|_| {
                    Err(gix::Error::from_error(std::io::Error::other(
                        "the second scan thread panicked",
                    )))
                });
                found.and_then(|found| Ok(found.and(more?)))
            }
            None => found,
        }
    })?;
    let mut changes = Changes {
        removed: found.removed,
        modified: found.modified,
        refreshed: found.refreshed,
        ..Changes::default()
    };
    if until == Until::FirstChange && !changes.is_empty() {
        return Ok(changes);
    }
    changes.untracked = untracked_paths(repo, workdir, index, found.untracked, until)?;
    changes.removed.sort_unstable();
    changes.modified.sort_unstable();
    Ok(changes)
}

/// What a stat scan found: sure changes, entries that hold what they record under new stat
/// data, and what must be looked at to know: the entries to read (with their stat data) and
/// the names on disk that no entry accounts for.
#[derive(Default)]
struct Found {
    removed: Vec<usize>,
    modified: Vec<usize>,
    refreshed: Vec<(usize, gix::index::entry::Stat)>,
    suspects: Vec<(usize, gix::index::entry::Stat)>,
    untracked: Vec<(BString, Option<Type>)>,
}

impl Found {
    fn and(mut self, other: Found) -> Found {
        self.removed.extend(other.removed);
        self.modified.extend(other.modified);
        self.refreshed.extend(other.refreshed);
        self.suspects.extend(other.suspects);
        self.untracked.extend(other.untracked);
        // A folder both halves open is listed by both.
        self.untracked.sort_by(|a, b| a.0.cmp(&b.0));
        self.untracked.dedup_by(|a, b| a.0 == b.0);
        self
    }

    fn has_change(&self) -> bool {
        !self.removed.is_empty() || !self.modified.is_empty()
    }
}

/// What the stat data of a tracked file tells.
enum Verdict {
    /// A folder is where the file was.
    Folder,
    /// Another kind of file, or the executable bit changed.
    Modified,
    /// The stat data matches and is not racy.
    Unchanged,
    /// Only reading the file can tell.
    Suspect,
}

/// The settings one stat scan compares with, shared by its threads.
struct Scan<'a> {
    workdir: &'a Path,
    index: &'a gix::index::State,
    options: gix::index::entry::stat::Options,
    /// The device of the index file, when it could be read.
    index_device: Option<u64>,
    caps: gix::fs::Capabilities,
    until: Until,
    stop: AtomicBool,
}

impl<'a> Scan<'a> {
    fn new(
        repo: &gix::Repository,
        workdir: &'a Path,
        index: &'a gix::index::State,
        caps: gix::fs::Capabilities,
        until: Until,
    ) -> Result<Scan<'a>, gix::Error> {
        Ok(Scan {
            workdir,
            index,
            options: repo.stat_options()?,
            index_device: std::fs::metadata(repo.index_path())
                .ok()
                .map(|meta| std::os::unix::fs::MetadataExt::dev(&meta)),
            caps,
            until,
            stop: AtomicBool::new(false),
        })
    }

    /// Compares `entries` (a slice of the index's) with their files, reading (through
    /// `repo`'s filters) those whose stat data cannot tell; with [`Until::FirstChange`],
    /// stops at the first sure change or when another part of the check found one. With
    /// `from_root`, the worktree's top folder is listed too.
    fn entries(
        &self,
        repo: &gix::Repository,
        entries: &[gix::index::Entry],
        from_root: bool,
    ) -> Result<Found, gix::Error> {
        let found = self
            .compare(entries, from_root)
            .and_then(|found| self.read_suspects(repo, found));
        if self.until == Until::FirstChange && found.as_ref().map_or(true, Found::has_change) {
            self.stop.store(true, Ordering::Relaxed);
        }
        found
    }

    /// Hashes the files of `found`'s suspects (without writing them) and sorts each into
    /// modified or, when only its stat data changed, refreshed.
    fn read_suspects(&self, repo: &gix::Repository, mut found: Found) -> Result<Found, gix::Error> {
        if found.suspects.is_empty() || self.until == Until::FirstChange && found.has_change() {
            return Ok(found);
        }
        let (mut pipeline, _) = repo.filter_pipeline(None)?;
        for (at, stat) in std::mem::take(&mut found.suspects) {
            if self.until == Until::FirstChange && self.stop.load(Ordering::Relaxed) {
                break;
            }
            let entry = &self.index.entries()[at];
            let rela_path = entry.path(self.index);
            let symlink = entry.mode == Mode::SYMLINK && self.caps.symlink;
            match worktree_blob_id(
                repo,
                &mut pipeline,
                self.workdir,
                rela_path,
                symlink,
                self.index,
            ) {
                Ok(id) if id == entry.id => {
                    if stat != entry.stat {
                        found.refreshed.push((at, stat));
                    }
                }
                // Changed, or gone or unreadable since its `lstat`: the commit reads it again.
                Ok(_) | Err(_) => {
                    found.modified.push(at);
                    if self.until == Until::FirstChange {
                        break;
                    }
                }
            }
        }
        Ok(found)
    }

    fn compare(&self, entries: &[gix::index::Entry], from_root: bool) -> Result<Found, gix::Error> {
        let errno = |errno: Errno| gix::Error::from_error(std::io::Error::from(errno));
        let first_only = self.until == Until::FirstChange;
        let offset = entries
            .first()
            .map_or(0, |first| entry_position(self.index, first));
        let mut folders = Folders::open(self.workdir).map_err(errno)?;
        let mut found = Found::default();
        if from_root {
            self.untracked_in(&[], &mut folders.root, &mut found.untracked)
                .map_err(errno)?;
        }
        for (at, entry) in entries.iter().enumerate() {
            if first_only
                && (found.has_change() || at % 256 == 0 && self.stop.load(Ordering::Relaxed))
            {
                return Ok(found);
            }
            let rela_path = entry.path(self.index);
            let folder = &rela_path[..rela_path.rfind_byte(b'/').unwrap_or(0)];
            let (opened, entered) = folders.enter(folder);
            for open in &mut folders.open[opened..] {
                self.untracked_in(&open.0, &mut open.1, &mut found.untracked)
                    .map_err(errno)?;
            }
            match entered {
                Ok(()) => {}
                Err(Errno::ENOENT) => {
                    found.removed.push(offset + at);
                    continue;
                }
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    // A file or symlink where a folder was: untracked, unless ignored.
                    found.removed.push(offset + at);
                    let done = folders.open.last().map_or(0, |(open, _)| open.len() + 1);
                    let end = folder[done..]
                        .find_byte(b'/')
                        .map_or(folder.len(), |slash| done + slash);
                    found.untracked.push((folder[..end].into(), None));
                    continue;
                }
                Err(err) => return Err(errno(err)),
            }
            if entry.flags.contains(Flags::ASSUME_VALID) {
                continue;
            }
            let stat = match folders.lstat(rela_path) {
                Ok(stat) => stat,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => {
                    found.removed.push(offset + at);
                    continue;
                }
                Err(err) => return Err(errno(err)),
            };
            match self.judge(entry, &stat) {
                Verdict::Folder => {
                    // A folder where a file was: what it holds is untracked, unless ignored.
                    found.removed.push(offset + at);
                    found
                        .untracked
                        .push((rela_path.to_owned(), Some(Type::Directory)));
                }
                Verdict::Modified => found.modified.push(offset + at),
                Verdict::Suspect => found.suspects.push((offset + at, index_stat(&stat))),
                Verdict::Unchanged => {}
            }
        }
        Ok(found)
    }

    /// What the `lstat` of its file, `stat`, says of `entry`.
    fn judge(&self, entry: &gix::index::Entry, stat: &nix::sys::stat::FileStat) -> Verdict {
        let kind = stat.st_mode & nix::libc::S_IFMT;
        if kind == nix::libc::S_IFDIR {
            return Verdict::Folder;
        }
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
            Verdict::Modified
        } else if self.unchanged(entry, stat) {
            Verdict::Unchanged
        } else {
            Verdict::Suspect
        }
    }

    /// Whether the file whose `lstat` is `stat` surely holds what `entry` records, from stat
    /// data alone: it matches and is not racy, in whole seconds as git compares them, or in
    /// nanoseconds when the file and the index are on the same file system (and
    /// `core.checkStat` is not `minimal`).
    ///
    /// Why nanoseconds are sound there: a file changed after the index was written gets an
    /// mtime not older than the index file's (both come from the same clock, truncated alike
    /// by the one file system), so an entry recorded with an older mtime than the index's
    /// cannot match a later change to the nanosecond. A change made while the index was being
    /// written, within the clock tick of the file's previous write, is the window git leaves
    /// open too (there, within the second).
    fn unchanged(&self, entry: &gix::index::Entry, stat: &nix::sys::stat::FileStat) -> bool {
        let now = index_stat(stat);
        let timestamp = self.index.timestamp();
        if entry.stat.matches(&now, self.options) && !entry.stat.is_racy(timestamp, self.options) {
            return true;
        }
        let nanos = gix::index::entry::stat::Options {
            use_nsec: true,
            ..self.options
        };
        self.options.check_stat
            && self.index_device == Some(stat.st_dev)
            && entry.stat.matches(&now, nanos)
            && !entry.stat.is_racy(timestamp, nanos)
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
    /// returns the position in `open` of the first folder it opened (they are open even
    /// when a deeper one could not be), and whether all of `folder` could be entered.
    fn enter(&mut self, folder: &[u8]) -> (usize, nix::Result<()>) {
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
            let dir = match Dir::openat(
                parent,
                std::ffi::OsStr::from_bytes(&folder[at..end]),
                Self::FLAGS,
                nix::sys::stat::Mode::empty(),
            ) {
                Ok(dir) => dir,
                Err(err) => return (opened, Err(err)),
            };
            self.open.push((folder[..end].to_vec(), dir));
            at = end + 1;
        }
        (opened, Ok(()))
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

/// The `untracked` names (files, symlinks, folders no entry is below) that are not ignored,
/// with the files and symlinks inside such folders and the folders holding a repository of
/// their own, sorted, as `git status --untracked-files=all` lists them; with
/// [`Until::FirstChange`], at most the first one found. Other kinds of files (FIFOs,
/// sockets) are not listed by git either.
fn untracked_paths(
    repo: &gix::Repository,
    workdir: &Path,
    index: &gix::index::State,
    mut pending: Vec<(BString, Option<Type>)>,
    until: Until,
) -> Result<Vec<BString>, gix::Error> {
    let mut out = Vec::new();
    if pending.is_empty() {
        return Ok(out);
    }
    pending.sort_by(|a, b| b.0.cmp(&a.0));
    pending.dedup_by(|a, b| a.0 == b.0);
    let mut excludes = repo.excludes(
        index,
        None,
        gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
    )?;
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
            out.push(path);
            if until == Until::FirstChange {
                break;
            }
            continue;
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
    out.sort();
    Ok(out)
}
