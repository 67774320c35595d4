//! OpenSpec: `openspec/changes/<id>/` with a required `proposal.md`, `tasks.md`, and
//! optional `design.md` and `specs/`. `openspec/changes/archive/` holds finished changes.

use std::path::Path;

use super::discover::{Error, Found, Repo, change};
use super::{Problem, Source, validate_id};

const CHANGES: &str = "openspec/changes";
const ARCHIVE: &str = "archive";

pub(super) fn find(repo: &Repo, found: &mut Found) -> Result<(), Error> {
    let changes = Path::new(CHANGES);
    for entry in repo.folders(changes, &mut found.problems)? {
        if entry.name == ARCHIVE {
            continue;
        }
        let read = read(repo, &entry.name, &entry.path);
        found.add(&entry.name, read);
    }
    let archive = changes.join(ARCHIVE);
    let mut ignored = Vec::new();
    for entry in repo.folders(&archive, &mut ignored)? {
        found.archived.insert(archived_id(&entry.name).to_owned());
    }
    Ok(())
}

fn read(repo: &Repo, id: &str, dir: &Path) -> Result<super::Change, Problem> {
    validate_id(id).map_err(|e| Problem::new(dir.to_owned(), e.to_string()))?;
    let proposal = dir.join("proposal.md");
    let Some(meta) = repo.meta(&proposal)? else {
        return Err(Problem::new(
            dir.to_owned(),
            "has no proposal.md, which every OpenSpec change needs: write one, or move the folder to openspec/changes/archive/ if the change is finished",
        ));
    };
    let title = meta.title.clone();
    Ok(change(
        repo,
        id.to_owned(),
        Source::Openspec,
        dir.to_owned(),
        meta,
        title,
    ))
}

/// `openspec archive` names folders `YYYY-MM-DD-<id>`.
fn archived_id(name: &str) -> &str {
    let bytes = name.as_bytes();
    let dated = bytes.len() > 11
        && bytes[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && bytes[10] == b'-';
    if dated { &name[11..] } else { name }
}
