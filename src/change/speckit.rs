//! spec-kit: `specs/NNN-name/` with `tasks.md` (`- [ ] T001 [P] …`) and optional `spec.md`
//! and `plan.md`. Only folders named `<digits>-…` are features; others are left alone.

use std::path::Path;

use super::discover::{Error, Found, Repo, change};
use super::proposal::Meta;
use super::{Problem, Source, validate_id};

const SPECS: &str = "specs";

pub(super) fn find(repo: &Repo, found: &mut Found) -> Result<(), Error> {
    for entry in repo.folders(Path::new(SPECS), &mut found.problems)? {
        if !is_feature(&entry.name) {
            continue;
        }
        let read = read(repo, &entry.name, &entry.path);
        found.add(&entry.name, read);
    }
    Ok(())
}

fn is_feature(name: &str) -> bool {
    let digits = name.len() - name.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && name[digits..].starts_with('-')
}

fn read(repo: &Repo, id: &str, dir: &Path) -> Result<super::Change, Problem> {
    validate_id(id).map_err(|e| Problem::new(dir.to_owned(), e.to_string()))?;
    if !repo.exists(&dir.join("tasks.md")) {
        return Err(Problem::new(
            dir.to_owned(),
            "has no tasks.md yet: generate it with spec-kit's /tasks command first",
        ));
    }
    // spec.md plays the part of OpenSpec's proposal: title, dependencies, configuration.
    let meta = repo
        .meta(&dir.join("spec.md"))?
        .unwrap_or_else(Meta::default);
    let title = Some(meta.title.clone().unwrap_or_else(|| id.to_owned()));
    Ok(change(
        repo,
        id.to_owned(),
        Source::SpecKit,
        dir.to_owned(),
        meta,
        title,
    ))
}
