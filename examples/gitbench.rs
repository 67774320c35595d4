//! Drives the git layer for `scripts/bench.sh git`: one operation per process, like the git
//! commands it is compared with.
//!
//! gitbench create <repo> <branch> <path>   worktree + branch at HEAD
//! gitbench dirty <worktree>                prints `dirty` or `clean`
//! gitbench merge <worktree> <base> <branch> merge --no-ff into a checked-out base

use std::path::Path;
use std::process::ExitCode;

use git_conflux::git::{MergeMode, MergeRequest, Repo, WorktreeSpec, is_dirty};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: Result<String, Box<dyn std::error::Error>> = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["create", repo, branch, path] => create(repo, branch, path),
        ["dirty", worktree] => is_dirty(Path::new(worktree))
            .map(|dirty| if dirty { "dirty" } else { "clean" }.to_owned())
            .map_err(Into::into),
        ["merge", worktree, base, branch] => merge(worktree, base, branch),
        _ => Err("usage: gitbench create <repo> <branch> <path> | dirty <worktree> | merge <worktree> <base> <branch>".into()),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("gitbench: {err}");
            let mut source = err.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn create(repo: &str, branch: &str, path: &str) -> Result<String, Box<dyn std::error::Error>> {
    let repo = Repo::discover(Path::new(repo))?;
    let start = repo
        .main_branch()?
        .and_then(|name| repo.branch_tip(&name).transpose())
        .transpose()?
        .ok_or("HEAD is not on a branch")?;
    let prepared = repo.prepare_worktree(&WorktreeSpec {
        id: branch.replace('/', "-"),
        branch: branch.to_owned(),
        path: path.into(),
        start,
    })?;
    Ok(prepared.head.to_string())
}

fn merge(worktree: &str, base: &str, branch: &str) -> Result<String, Box<dyn std::error::Error>> {
    let repo = Repo::discover(Path::new(worktree))?;
    let outcome = repo.merge_into(&MergeRequest {
        base: base.to_owned(),
        branch: branch.to_owned(),
        mode: MergeMode::NoFastForward,
        message: format!("Merge {branch}"),
    })?;
    Ok(format!("{outcome:?}"))
}
