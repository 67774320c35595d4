//! A same-size edit that only nanoseconds tell apart from what the index recorded, shared by
//! the dirty-check and commit tests.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::git_fixture::Fixture;

/// The mtime the index records for `path` in the worktree `wt` (`git ls-files --debug`).
fn recorded_mtime(fixture: &Fixture, wt: &Path, path: &str) -> SystemTime {
    let debug = fixture.git_in(wt, &["ls-files", "--debug", "--", path]);
    let mtime = debug
        .lines()
        .find_map(|line| line.trim().strip_prefix("mtime: "))
        .expect("an mtime line");
    let (secs, nsecs) = mtime.split_once(':').expect("secs:nsecs");
    UNIX_EPOCH + Duration::new(secs.parse().unwrap(), nsecs.parse().unwrap())
}

/// Sets the modification time of the file at `path`.
fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// Rewrites `rel` in `wt` with other content of the same size, as written 2 µs after the
/// index recorded it, and the index as written 1 µs after it: an edit made after the index,
/// within the same second as the file's recorded mtime (the scan compares nanoseconds).
pub fn same_size_edit_after_the_index(fixture: &Fixture, wt: &Path, rel: &str) {
    fixture.git_in(wt, &["config", "core.trustctime", "false"]);
    let recorded = recorded_mtime(fixture, wt, rel);
    let index_time = recorded + Duration::from_micros(1);
    let edit_time = recorded + Duration::from_micros(2);
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(recorded), secs(edit_time), "pick another file time");
    let file = wt.join(rel);
    let old = std::fs::read(&file).unwrap();
    let new: Vec<u8> = old
        .iter()
        .map(|b| if *b == b'f' { b'g' } else { *b })
        .collect();
    assert_ne!(old, new, "the edit changes {rel}");
    std::fs::write(&file, new).unwrap();
    set_mtime(&file, edit_time);
    let git_dir = fixture.git_in(wt, &["rev-parse", "--absolute-git-dir"]);
    set_mtime(&Path::new(git_dir.trim()).join("index"), index_time);
}
