//! The trash: folders already judged safe to delete (a removed worktree's files) are moved
//! out of the way with one rename and deleted by a background thread, so that the caller
//! (a merge of many changes) does not wait for thousands of unlinks.
//!
//! The trash is `<git-common-dir>/conflux/trash/`. A process killed before its thread
//! finished leaves folders there; the next `merge`, `clean` or `start` deletes them
//! ([`Trash::empty_leftovers`]). Dropping the last handle waits for the thread, so a command
//! that returns has deleted what it moved.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use super::Repo;

/// Where removed folders wait for their deletion, and the thread that deletes them.
pub(crate) struct Trash {
    dir: PathBuf,
    worker: Mutex<Option<Worker>>,
    /// Makes the names of the folders moved in by this process unique.
    moved: AtomicU64,
}

struct Worker {
    queue: Sender<PathBuf>,
    thread: JoinHandle<()>,
}

impl Trash {
    /// The trash of the repository whose common dir is `common_dir`; no thread runs until
    /// something is thrown away.
    pub(crate) fn new(common_dir: &Path) -> Trash {
        Trash {
            dir: common_dir.join("conflux").join("trash"),
            worker: Mutex::new(None),
            moved: AtomicU64::new(0),
        }
    }

    /// Deletes `path` (a folder): moved into the trash and deleted in the background when it
    /// can be renamed there, else (another file system) deleted now.
    pub(crate) fn throw_away(&self, path: &Path) -> std::io::Result<()> {
        let name = path
            .file_name()
            .map_or("folder".into(), |n| n.to_string_lossy().into_owned());
        let n = self.moved.fetch_add(1, Ordering::Relaxed);
        // The pid and the time keep it apart from what a killed process left with its pid.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let target = self
            .dir
            .join(format!("{name}.{}.{nanos}.{n}", std::process::id()));
        let moved =
            std::fs::create_dir_all(&self.dir).and_then(|()| std::fs::rename(path, &target));
        match moved {
            Ok(()) => {
                self.delete_later(target);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => Ok(()),
            Err(_) => delete(path),
        }
    }

    /// Deletes, in the background, whatever an earlier process left in the trash.
    pub(crate) fn empty_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            self.delete_later(entry.path());
        }
    }

    /// Queues `path` for the deletion thread, started on first use.
    fn delete_later(&self, path: PathBuf) {
        let mut worker = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        let worker = worker.get_or_insert_with(|| {
            let (queue, paths) = channel::<PathBuf>();
            let thread = std::thread::spawn(move || {
                for path in paths {
                    if let Err(e) = delete(&path) {
                        tracing::warn!(
                            "could not delete {} from the trash: {e}; the next `git conflux clean` tries again, or delete it by hand",
                            path.display()
                        );
                    }
                }
            });
            Worker { queue, thread }
        });
        // The thread only ends when the queue is dropped, so it is there to receive.
        let _ = worker.queue.send(path);
    }
}

impl Drop for Trash {
    /// Waits until everything thrown away is deleted.
    fn drop(&mut self) {
        let worker = self.worker.get_mut().map(Option::take);
        if let Ok(Some(Worker { queue, thread })) = worker {
            drop(queue);
            let _ = thread.join();
        }
    }
}

/// Deletes a folder (or file) and everything in it, never following a symlink; one that
/// is already gone (another process emptying the same trash) is fine. Folders without
/// write permission (read-only caches some tools make) are made writable to empty them.
fn delete(path: &Path) -> std::io::Result<()> {
    let first = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    match first {
        Ok(()) => Ok(()),
        Err(_) if !path.exists() => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            make_writable(path);
            std::fs::remove_dir_all(path)
        }
        Err(e) => Err(e),
    }
}

/// Gives the owner write and search permission on every folder under `path` (not
/// following symlinks).
fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode() | 0o700;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.filter_map(Result::ok) {
            make_writable(&entry.path());
        }
    }
}

impl Repo {
    /// Deletes, in the background, what a killed process left in the trash; a command that
    /// may remove worktrees calls it first.
    pub(crate) fn empty_trash(&self) {
        self.trash.empty_leftovers();
    }
}
