//! Files of a repository, read or copied safely: never through a link that leads out of the
//! repository, never a FIFO, socket or device (opening a FIFO blocks forever), and never more
//! than [`READ_LIMIT`] bytes into memory (a link to `/dev/zero` would never end).
//!
//! Configuration (`.conflux.yaml`), change documents (`proposal.md`, `spec.md`, `tasks.md`)
//! and the `copy:` list all go through here (DESIGN.md: rules every part keeps).

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;

/// The most a configuration or change file may hold; larger ones are refused, not cut.
pub const READ_LIMIT: u64 = 16 * 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    #[error(
        "leads outside the repository (to {}); not read: replace the link with the file itself",
        .0.display()
    )]
    Outside(PathBuf),
    #[error("is {0}; only regular files are read")]
    Special(&'static str),
    #[error("is larger than {} MiB; not read: make it smaller", READ_LIMIT >> 20)]
    TooLarge,
    #[error("cannot be read: {0}")]
    Io(io::Error),
}

/// A file that was not read, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct Error {
    pub path: PathBuf,
    pub reason: Reason,
}

/// Reads the file at `path`, which must resolve (every link followed) to a regular file inside
/// the folder `inside` when one is given; `Ok(None)` when nothing is there.
pub fn read(path: &Path, inside: Option<&Path>) -> Result<Option<Vec<u8>>, Error> {
    let fail = |reason| Error {
        path: path.to_owned(),
        reason,
    };
    let target = match std::fs::canonicalize(path) {
        Ok(target) => target,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(Reason::Io(e))),
    };
    if let Some(root) = inside
        && !target.starts_with(canonical(root))
    {
        return Err(fail(Reason::Outside(target)));
    }
    let file = open_regular(&target).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(READ_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(Reason::Io(e)))?;
    if bytes.len() as u64 > READ_LIMIT {
        return Err(fail(Reason::TooLarge));
    }
    Ok(Some(bytes))
}

/// `path` with every link resolved, or as given when it cannot be resolved.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Opens `path` (whose last component is not a link) for reading when it is a regular file.
/// It is looked at before it is opened, because opening a FIFO blocks; and opened without
/// following a link or blocking, in case something else was put there meanwhile.
fn open_regular(path: &Path) -> Result<File, Reason> {
    let meta = std::fs::symlink_metadata(path).map_err(Reason::Io)?;
    regular(&meta)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW).bits())
        .open(path)
        .map_err(Reason::Io)?;
    regular(&file.metadata().map_err(Reason::Io)?)?;
    Ok(file)
}

fn regular(meta: &Metadata) -> Result<(), Reason> {
    match meta.file_type() {
        t if t.is_file() => Ok(()),
        t => Err(Reason::Special(kind(t))),
    }
}

/// What a file is, as an error message names it.
fn kind(t: FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// Why a `copy:` entry was not copied; each names the entry.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("copy: {0} must be a relative path inside the repository: fix `copy:`")]
    NotInside(String),
    #[error("copy: {} is {kind}; only regular files and folders are copied", rel.display())]
    Special { rel: PathBuf, kind: &'static str },
    #[error(
        "copy: {} is a link leading outside the repository or by an absolute path (to {}); not copied: list the file itself in `copy:`, or make the link relative",
        rel.display(),
        target.display()
    )]
    Outside { rel: PathBuf, target: PathBuf },
    #[error(
        "copy: {} in the worktree is {kind}, where a folder is needed; nothing is written through it",
        rel.display()
    )]
    Destination { rel: PathBuf, kind: &'static str },
    #[error("copy: {}: {source}", rel.display())]
    Io { rel: PathBuf, source: io::Error },
}

/// One thing to copy, relative to the repository root.
#[derive(Debug, PartialEq)]
pub enum Item {
    Folder(PathBuf),
    File(PathBuf),
    /// A relative link whose target stays inside the repository, copied as the same link.
    Link {
        rel: PathBuf,
        target: PathBuf,
    },
}

/// What copying the `copy:` entry `entry` from the checkout at `root` means, checked before
/// anything is written: every folder, file and link under it, parents first. Nothing may lead
/// out of the repository, and no FIFO, socket or device is included. A missing entry copies
/// nothing.
pub fn copy_items(root: &Path, entry: &str) -> Result<Vec<Item>, CopyError> {
    let rel = Path::new(entry);
    if rel.as_os_str().is_empty()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(CopyError::NotInside(entry.to_owned()));
    }
    let root_canonical = canonical(root);
    // A link among the entry's parent folders would lead the whole walk elsewhere.
    if let Some(parent) = root.join(rel).parent()
        && let Ok(resolved) = std::fs::canonicalize(parent)
        && !resolved.starts_with(&root_canonical)
    {
        return Err(CopyError::Outside {
            rel: rel.to_owned(),
            target: resolved,
        });
    }
    let mut items = Vec::new();
    walk(root, &root_canonical, rel, &mut items)?;
    Ok(items)
}

fn walk(
    root: &Path,
    root_canonical: &Path,
    rel: &Path,
    items: &mut Vec<Item>,
) -> Result<(), CopyError> {
    let io_err = |source| CopyError::Io {
        rel: rel.to_owned(),
        source,
    };
    let from = root.join(rel);
    let meta = match std::fs::symlink_metadata(&from) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(e)),
    };
    let t = meta.file_type();
    if t.is_symlink() {
        let target = std::fs::read_link(&from).map_err(io_err)?;
        let resolved = std::fs::canonicalize(&from).unwrap_or_else(|_| target.clone());
        if target.is_absolute() || !resolved.starts_with(root_canonical) {
            return Err(CopyError::Outside {
                rel: rel.to_owned(),
                target: resolved,
            });
        }
        items.push(Item::Link {
            rel: rel.to_owned(),
            target,
        });
    } else if t.is_dir() {
        items.push(Item::Folder(rel.to_owned()));
        let mut names: Vec<_> = std::fs::read_dir(&from)
            .map_err(io_err)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err)?;
        names.sort();
        for name in names {
            walk(root, root_canonical, &rel.join(name), items)?;
        }
    } else if t.is_file() {
        items.push(Item::File(rel.to_owned()));
    } else {
        return Err(CopyError::Special {
            rel: rel.to_owned(),
            kind: kind(t),
        });
    }
    Ok(())
}

/// Copies `items` (from [`copy_items`]) from `root` into `worktree`. Nothing is written
/// through a link: every parent of a destination must be a real folder of the worktree, and
/// files and links are written beside their destination and renamed over it (which replaces
/// a link there instead of following it).
pub fn copy_into(root: &Path, worktree: &Path, items: &[Item]) -> Result<(), CopyError> {
    for item in items {
        let rel = match item {
            Item::Folder(rel) | Item::File(rel) | Item::Link { rel, .. } => rel,
        };
        let io_err = |source| CopyError::Io {
            rel: rel.to_owned(),
            source,
        };
        let parent = real_parent(worktree, rel)?;
        let to = worktree.join(rel);
        match item {
            Item::Folder(_) => match std::fs::symlink_metadata(&to) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) if meta.file_type().is_symlink() => {
                    std::fs::remove_file(&to).map_err(io_err)?;
                    std::fs::create_dir(&to).map_err(io_err)?;
                }
                Ok(meta) => {
                    return Err(CopyError::Destination {
                        rel: rel.to_owned(),
                        kind: kind(meta.file_type()),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::fs::create_dir(&to).map_err(io_err)?;
                }
                Err(e) => return Err(io_err(e)),
            },
            Item::File(_) => {
                let mut from = open_regular(&root.join(rel)).map_err(|reason| match reason {
                    Reason::Special(kind) => CopyError::Special {
                        rel: rel.to_owned(),
                        kind,
                    },
                    other => io_err(io::Error::other(other.to_string())),
                })?;
                let mut tmp = tempfile::Builder::new()
                    .prefix(".conflux-copy-")
                    .tempfile_in(&parent)
                    .map_err(io_err)?;
                io::copy(&mut from, tmp.as_file_mut()).map_err(io_err)?;
                let mode = from.metadata().map_err(io_err)?.permissions();
                tmp.as_file().set_permissions(mode).map_err(io_err)?;
                tmp.persist(&to).map_err(|e| io_err(e.error))?;
            }
            Item::Link { target, .. } => {
                let tmp = tempfile::Builder::new()
                    .prefix(".conflux-link-")
                    .make_in(&parent, |path| std::os::unix::fs::symlink(target, path))
                    .map_err(io_err)?
                    .into_temp_path();
                std::fs::rename(&tmp, &to).map_err(io_err)?;
                tmp.keep().map_err(|e| io_err(e.error))?;
            }
        }
    }
    Ok(())
}

/// The worktree folder that holds `rel`, after checking that each of its parents is a real
/// folder (not a link) and creating the missing ones.
fn real_parent(worktree: &Path, rel: &Path) -> Result<PathBuf, CopyError> {
    let mut dir = worktree.to_owned();
    let mut so_far = PathBuf::new();
    let parents: Vec<Component> = rel
        .parent()
        .map_or(Vec::new(), |p| p.components().collect());
    for component in parents {
        dir.push(component);
        so_far.push(component);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) => {
                return Err(CopyError::Destination {
                    rel: so_far,
                    kind: kind(meta.file_type()),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).map_err(|source| CopyError::Io {
                    rel: so_far.clone(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(CopyError::Io {
                    rel: so_far,
                    source,
                });
            }
        }
    }
    Ok(dir)
}

/// Writes `bytes` to `path` through a synced temp file in the same directory and a rename,
/// so that a reader (or a crash) sees the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Removes `path`; one that is already gone is fine.
pub fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
