//! The one way conflux writes an index, and the tree an index describes.
//!
//! An index is written like git writes it: under `index.lock`, renamed over the index (atomic),
//! with the trailing checksum. When the caller knows the tree the entries now equal, the file
//! also gets git's cached-tree (`TREE`) extension, so that later status checks (git's and
//! ours) compare HEAD with the index by one id instead of reading every tree.
//!
//! The cached tree is never taken on trust: it is computed from the entries themselves (every
//! directory's tree object hashed in memory, as `git write-tree` would) and written only when
//! its root is the tree the caller named. A wrong `TREE` would hide staged changes from `git
//! status` and make `git commit` record the wrong tree, so when in doubt none is written.

use std::io::Write as _;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::index::entry::{Flags, Mode};
use gix::index::extension::Tree;

/// The index of `repo`'s worktree as its file holds it now (an empty one when there is none).
/// Read afresh on every call, unlike gix's `Repository::index()`, which keeps a copy until the
/// file's mtime changes: two writes within one tick of the file system's clock (a few
/// milliseconds on Linux) leave the same mtime, and a merge writes the index every few.
/// The trailing checksum is not verified, as git verifies it only in `git fsck`: hashing the
/// whole file was about 3% of a clean check on 50,000 files. A damaged index still fails to
/// decode, and entries that do not match their files read as changes, never as clean ones.
pub(crate) fn read(repo: &gix::Repository) -> Result<gix::index::File, gix::Error> {
    let path = repo.index_path();
    if !path.is_file() {
        return Ok(gix::index::File::from_state(
            gix::index::State::new(repo.object_hash()),
            path,
        ));
    }
    gix::index::File::at(path, repo.object_hash(), true, Default::default())
}

/// Write `index` atomically over the file it was read from. With `tree`, the tree its entries
/// are meant to equal, a cached-tree extension for it is written too, if they do.
pub(crate) fn write(mut index: gix::index::File, tree: Option<ObjectId>) -> Result<(), gix::Error> {
    let cache = tree.and_then(|expected| {
        cache_tree(&index, &mut |_, _| Ok(()))
            .ok()
            .flatten()
            .filter(|cache| cache.id == expected)
    });
    index.remove_tree();
    let lock = gix::lock::File::acquire_to_update_resource(
        index.path(),
        gix::lock::acquire::Fail::Immediately,
        None,
        0,
    )
    .map_err(gix::Error::from_error)?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, lock);
    let mut hashing = gix::hash::io::Write::new(&mut out, index.object_hash());
    // Without the end-of-index-entry extension: it would have to come after ours.
    let options = gix::index::write::Options {
        extensions: gix::index::write::Extensions::None,
        skip_hash: false,
    };
    let state: &gix::index::State = &index;
    state.write_to(&mut hashing, options)?;
    if let Some(cache) = &cache {
        cache
            .write_to(&mut hashing)
            .map_err(gix::Error::from_error)?;
    }
    let checksum = hashing.hash.try_finalize()?;
    out.write_all(checksum.as_slice())
        .map_err(gix::Error::from_error)?;
    let lock = out
        .into_inner()
        .map_err(|err| gix::Error::from_error(err.into_error()))?;
    lock.commit().map_err(gix::Error::from_error)?;
    Ok(())
}

/// Called with each tree object's id and encoded data (to write it, or not).
pub(crate) type VisitTree<'a> = dyn FnMut(ObjectId, &[u8]) -> Result<(), gix::Error> + 'a;

/// The tree `state`'s entries describe, as git's cached tree (every directory's id and entry
/// count), handing each tree object to `visit` (id, encoded data) before its parent's.
/// `None` when the entries make no tree: unmerged stages, intent-to-add or sparse entries.
pub(crate) fn cache_tree(
    state: &gix::index::State,
    visit: &mut VisitTree<'_>,
) -> Result<Option<Tree>, gix::Error> {
    let unfit = state.entries().iter().any(|entry| {
        entry.stage_raw() != 0
            || entry.flags.intersects(Flags::INTENT_TO_ADD | Flags::REMOVE)
            || tree_mode(entry.mode).is_none()
    });
    if unfit {
        return Ok(None);
    }
    directory(state, state.entries(), 0, &[], visit).map(Some)
}

/// The cached tree of one directory: `entries` are all below it, their paths starting with
/// `prefix_len` bytes of the directory's path (and its `/`).
fn directory(
    state: &gix::index::State,
    entries: &[gix::index::Entry],
    prefix_len: usize,
    name: &[u8],
    visit: &mut VisitTree<'_>,
) -> Result<Tree, gix::Error> {
    let mut data = Vec::with_capacity(entries.len().min(64) * 40);
    let mut children = Vec::new();
    let mut at = 0;
    while at < entries.len() {
        let path = entries[at].path(state);
        let rest = &path[prefix_len..];
        match rest.find_byte(b'/') {
            Some(slash) => {
                let child_prefix = &path[..prefix_len + slash + 1];
                let end = at
                    + entries[at..]
                        .iter()
                        .take_while(|entry| entry.path(state).starts_with(child_prefix))
                        .count();
                let child = directory(
                    state,
                    &entries[at..end],
                    child_prefix.len(),
                    &rest[..slash],
                    visit,
                )?;
                push_tree_entry(&mut data, b"40000", &rest[..slash], &child.id);
                children.push(child);
                at = end;
            }
            None => {
                let mode = tree_mode(entries[at].mode).unwrap_or(b"100644");
                push_tree_entry(&mut data, mode, rest, &entries[at].id);
                at += 1;
            }
        }
    }
    let id = gix::objs::compute_hash(state.object_hash(), gix::objs::Kind::Tree, &data)?;
    visit(id, &data)?;
    Ok(Tree {
        name: name.into(),
        id,
        num_entries: Some(u32::try_from(entries.len()).map_err(gix::Error::from_error)?),
        children,
    })
}

/// The mode a tree records for an index entry; `None` for sparse directory entries.
fn tree_mode(mode: Mode) -> Option<&'static [u8]> {
    Some(match mode {
        Mode::FILE => b"100644",
        Mode::FILE_EXECUTABLE => b"100755",
        Mode::SYMLINK => b"120000",
        Mode::COMMIT => b"160000",
        _ => return None,
    })
}

/// One entry of a tree object: `<mode> <name>\0<id>`.
fn push_tree_entry(data: &mut Vec<u8>, mode: &[u8], name: &[u8], id: &gix::oid) {
    data.extend_from_slice(mode);
    data.push(b' ');
    data.extend_from_slice(name);
    data.push(0);
    data.extend_from_slice(id.as_bytes());
}
