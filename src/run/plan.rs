//! What `start` will run, decided before anything is created: which changes (selection), the
//! preflight checks that must pass first, and which dependency each change waits for (selected
//! in this run) or builds on (already done). Nothing here writes to the terminal: what the
//! plan wants said is data ([`Note`]) that the command renders.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::agent::presets;
use crate::config::Config;
use crate::files::CopyError;
use crate::git;
use crate::run::overview::{ChangeView, Overview};
use crate::run::pipeline::Plan;
use crate::run::scheduler::Job;
use crate::run::state::{self, BranchOwner, ChangeState, Phase, RunLock, branch_owner};
use crate::run::workspace::Workspace;

/// What `start` will do, decided before anything is created.
pub(crate) struct RunPlan {
    pub(crate) base: String,
    /// In dependency order.
    pub(crate) jobs: Vec<Job>,
    pub(crate) parallel: usize,
    /// The agent's command as the dry run shows it.
    pub(crate) agent_command: String,
}

/// Which changes run, and what the user should hear about those that do not.
pub(crate) struct Selection<'v> {
    changes: Vec<&'v ChangeView>,
    pub(crate) notes: Vec<Note>,
}

/// A change left out of the run, and why: the command tells the user.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Note {
    /// The reviewer blocked it; it runs again only when named.
    Blocked { id: String, reason: String },
    /// Done, but its merge conflicts with the base; it runs again only when named.
    Conflict { id: String, reason: String },
    /// Named, but already done or merged.
    Finished { id: String, phase: Phase },
}

/// Why the run cannot start; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Branch(#[from] git::branch::Error),
    #[error(
        "HEAD of the main worktree {} is detached, so there is no base branch to start from",
        root.display()
    )]
    DetachedHead { root: PathBuf },
    #[error(
        "the base branch `{base}` is a conflux change branch; changes start from, and merge into, the branch they will land on"
    )]
    BaseIsChangeBranch { base: String, root: PathBuf },
    #[error("the base branch `{base}` does not exist")]
    NoBase { base: String },
    #[error("no agent is configured")]
    NoAgent,
    /// The agent's binary is missing or not executable.
    #[error(transparent)]
    AgentMissing(presets::Error),
    /// The agent cannot run here as configured (claude as root, …).
    #[error(transparent)]
    AgentPreflight(presets::Error),
    #[error(transparent)]
    Status(#[from] git::status::Error),
    #[error(
        "change {id} has uncommitted files ({}); its worktree would not contain them",
        crate::error::list_cut(paths)
    )]
    Uncommitted {
        id: String,
        dir: PathBuf,
        paths: Vec<String>,
    },
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// A `copy:` entry of the change could not be copied.
    #[error("{error}")]
    Copy { id: String, error: CopyError },
    #[error("change {id} depends on {dep}, which is not done")]
    DependencyNotDone { id: String, dep: String },
    #[error(
        "branch {branch} already exists and git conflux did not create it, so change {id} cannot use it; nothing was changed"
    )]
    ForeignBranch { id: String, branch: String },
    /// Another `start` holds the repository.
    #[error(transparent)]
    Locked(state::Error),
    /// The configured sandbox cannot run here.
    #[error(transparent)]
    Sandbox(#[from] crate::run::sandbox::Error),
}

/// The branch changes start from and merge into: `base:` (or --base), else the main
/// worktree's branch; never a change branch, and it must exist.
pub(crate) fn base_branch(ws: &Workspace, config: &Config) -> Result<String, Error> {
    let base = match &config.base {
        Some(base) => base.clone(),
        None => ws.repo.main_branch()?.ok_or_else(|| Error::DetachedHead {
            root: ws.root.clone(),
        })?,
    };
    if config.is_change_branch(&base) {
        return Err(Error::BaseIsChangeBranch {
            base,
            root: ws.root.clone(),
        });
    }
    if ws.repo.branch_tip(&base)?.is_none() {
        return Err(Error::NoBase { base });
    }
    Ok(base)
}

/// The changes named in `ids` that are not finished, or without ids every change that
/// [wants to run](wants_run).
pub(crate) fn select<'v>(view: &'v Overview, ids: &[String]) -> Selection<'v> {
    let mut notes = Vec::new();
    let changes = if ids.is_empty() {
        for v in &view.changes {
            let id = v.change.id.clone();
            let reason = v
                .state
                .as_ref()
                .and_then(|s| s.reason.clone())
                .unwrap_or_else(|| "see git conflux status -v".into());
            match v.phase() {
                Phase::Blocked => notes.push(Note::Blocked { id, reason }),
                Phase::Conflict => notes.push(Note::Conflict { id, reason }),
                _ => {}
            }
        }
        view.changes.iter().filter(|v| wants_run(v)).collect()
    } else {
        let mut chosen = Vec::new();
        for v in view.changes.iter().filter(|v| ids.contains(&v.change.id)) {
            if matches!(v.phase(), Phase::Done | Phase::Merged) {
                notes.push(Note::Finished {
                    id: v.change.id.clone(),
                    phase: v.phase(),
                });
            } else {
                chosen.push(v);
            }
        }
        chosen
    };
    Selection { changes, notes }
}

/// Without ids, `start` runs every change that is not done, resuming interrupted ones.
/// A change the reviewer marked blocked, or whose merge conflicts, waits for a person: it
/// runs again only when named (its work is done; running it again would only hide the
/// conflict).
fn wants_run(v: &ChangeView) -> bool {
    match v.phase() {
        Phase::Done | Phase::Merged | Phase::Blocked | Phase::Conflict => false,
        Phase::Pending => !is_complete(v),
        _ => true,
    }
}

/// Every task ticked in the main worktree (a change finished by hand or merged before).
fn is_complete(v: &ChangeView) -> bool {
    v.change.tasks_total() > 0 && v.change.tasks_done() == v.change.tasks_total()
}

/// Checks what must hold before any worktree exists (the agent, committed change folders,
/// `copy:` items, dependencies, branch ownership) and plans one job per selected change.
/// `in_run` are the changes a running run has already: a dependency among them is waited
/// for like a selected one.
pub(crate) fn plan(
    ws: &Workspace,
    config: &Config,
    view: &Overview,
    base: String,
    selection: &Selection,
    in_run: &BTreeSet<String>,
) -> Result<RunPlan, Error> {
    let mut run = RunPlan {
        base,
        jobs: Vec::new(),
        parallel: config.jobs,
        agent_command: String::new(),
    };
    if selection.changes.is_empty() {
        return Ok(run);
    }
    let agent = config.agent.clone().ok_or(Error::NoAgent)?;
    presets::check_available(&agent).map_err(Error::AgentMissing)?;
    presets::preflight(&agent, &config.env).map_err(Error::AgentPreflight)?;
    crate::run::sandbox::preflight(&config.sandbox)?;
    refuse_uncommitted(ws, &selection.changes)?;
    let run_ids: BTreeSet<&str> = selection
        .changes
        .iter()
        .map(|v| v.change.id.as_str())
        .chain(in_run.iter().map(String::as_str))
        .collect();
    let worktree_root = ws.worktree_root(config);
    for v in &selection.changes {
        run.jobs
            .push(job(ws, config, view, &run_ids, &worktree_root, v)?);
    }
    // `check_available` above already refused an unknown preset, the only failure here.
    run.agent_command = agent.command_line().unwrap_or_else(|e| e.to_string());
    Ok(run)
}

/// One selected change's job: its configuration (front matter applied), its `copy:` items
/// checked, its dependencies sorted into waits-for and builds-on, its branch (never one
/// conflux did not create) and its worktree (the recorded one, else under `worktree_root`).
fn job(
    ws: &Workspace,
    config: &Config,
    view: &Overview,
    run_ids: &BTreeSet<&str>,
    worktree_root: &Path,
    v: &ChangeView,
) -> Result<Job, Error> {
    let change_config =
        config.for_change(v.change.config.as_ref(), &v.change.dir.join("proposal.md"))?;
    // What `copy:` would copy is checked now, before any worktree exists.
    for entry in &change_config.copy {
        crate::files::copy_items(&ws.root, entry).map_err(|error| Error::Copy {
            id: v.change.id.clone(),
            error,
        })?;
    }
    let (waits_for, builds_on) = dependencies(config, view, run_ids, v)?;
    let state = v.state.as_ref();
    let branch = branch_for(config, state, &v.change.id);
    refuse_foreign_branch(ws, state, &branch, &v.change.id)?;
    Ok(Job {
        plan: Plan {
            change: v.change.clone(),
            config: change_config,
            branch,
            worktree: state
                .map(|s| s.worktree.clone())
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| worktree_root.join(&v.change.id)),
            prior: state.cloned(),
        },
        waits_for,
        builds_on,
    })
}

/// A change's worktree is made from commits: files of its folder that are not committed
/// would be missing there. One status per folder that holds changes (`openspec/changes`),
/// not one per change: each status reads the whole index.
fn refuse_uncommitted(ws: &Workspace, changes: &[&ChangeView]) -> Result<(), Error> {
    let parents: BTreeSet<&Path> = changes
        .iter()
        .map(|v| v.change.dir.parent().unwrap_or(Path::new("")))
        .collect();
    let mut dirty = Vec::new();
    for parent in parents {
        dirty.extend(ws.repo.uncommitted_paths(parent)?);
    }
    for v in changes {
        let dir = &v.change.dir;
        // A folder reported whole (untracked) may hold the change's folder.
        let paths: Vec<String> = dirty
            .iter()
            .filter(|p| p.starts_with(dir) || dir.starts_with(p))
            .map(|p| p.display().to_string())
            .collect();
        if !paths.is_empty() {
            return Err(Error::Uncommitted {
                id: v.change.id.clone(),
                dir: dir.clone(),
                paths,
            });
        }
    }
    Ok(())
}

/// (id, branch) pairs of the dependencies `v` waits for (selected, or in the run already)
/// and of those it builds on (done, not merged); a merged or completed one needs neither,
/// any other is an error.
type DependencyUse = (Vec<(String, String)>, Vec<(String, String)>);

fn dependencies(
    config: &Config,
    view: &Overview,
    run_ids: &BTreeSet<&str>,
    v: &ChangeView,
) -> Result<DependencyUse, Error> {
    let mut waits_for = Vec::new();
    let mut builds_on = Vec::new();
    for dep in &v.change.dependencies {
        let dep_view = view.find(dep);
        let dep_branch = branch_for(config, dep_view.and_then(|d| d.state.as_ref()), dep);
        if run_ids.contains(dep.as_str()) {
            waits_for.push((dep.clone(), dep_branch));
            continue;
        }
        match dep_view.map(|d| (d.phase(), is_complete(d))) {
            Some((Phase::Merged, _)) | Some((_, true)) => {}
            Some((Phase::Done, _)) => builds_on.push((dep.clone(), dep_branch)),
            _ => {
                return Err(Error::DependencyNotDone {
                    id: v.change.id.clone(),
                    dep: dep.clone(),
                });
            }
        }
    }
    Ok((waits_for, builds_on))
}

/// A branch that conflux did not create for the change is neither built on nor changed:
/// it may hold someone's work, and `clean` would later delete it.
fn refuse_foreign_branch(
    ws: &Workspace,
    state: Option<&ChangeState>,
    branch: &str,
    id: &str,
) -> Result<(), Error> {
    if branch_owner(&ws.repo, state, branch)? != BranchOwner::Other {
        return Ok(());
    }
    Err(Error::ForeignBranch {
        id: id.to_owned(),
        branch: branch.to_owned(),
    })
}

/// The branch an earlier run recorded, else `<branch_prefix><id>`.
fn branch_for(config: &Config, state: Option<&ChangeState>, id: &str) -> String {
    state
        .map(|s| s.branch.clone())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| format!("{}{id}", config.branch_prefix))
}

/// Takes the repository's run lock: one orchestrator per repository.
pub(crate) fn lock(ws: &Workspace) -> Result<RunLock, Error> {
    ws.run_dir.lock().map_err(Error::Locked)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::config::Layer;
    use crate::git::env::RepoEnv;
    use crate::run::overview::overview;

    /// Runs the real `git` hermetically in `dir`; panics with its stderr on failure.
    pub(crate) fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A repository on `main` with committed OpenSpec changes: (id, dependencies, tasks).
    fn repo(changes: &[(&str, &[&str], &str)]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical").join("repo");
        std::fs::create_dir_all(&root).expect("repo dir");
        for (id, deps, tasks) in changes {
            let folder = root.join("openspec/changes").join(id);
            std::fs::create_dir_all(&folder).expect("mkdir");
            let proposal = format!("---\ndependencies: [{}]\n---\n# {id}\n", deps.join(", "));
            std::fs::write(folder.join("proposal.md"), proposal).expect("proposal");
            std::fs::write(folder.join("tasks.md"), tasks).expect("tasks");
        }
        std::fs::write(root.join("README.md"), "hello\n").expect("readme");
        git(&root, &["init", "-q", "-b", "main"]);
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "changes"]);
        let ws = Workspace::open(&root, &RepoEnv::default()).expect("workspace");
        (dir, ws)
    }

    /// Records an earlier run of `id` that ended in `phase`.
    fn record(ws: &Workspace, id: &str, phase: Phase, reason: Option<&str>) {
        let mut state = ChangeState::new(id, &format!("conflux/{id}"), Path::new(""), "main");
        state.phase = phase;
        state.reason = reason.map(str::to_owned);
        ws.run_dir.save(&state).expect("state saved");
    }

    /// Defaults with an agent that exists everywhere (`sh`).
    fn config(root: &Path) -> Config {
        let mut config = Config::default();
        let layer = Layer::parse("agent: {command: \"sh agent.sh\", prompt: stdin}\n", root)
            .expect("layer");
        config.apply(layer);
        config
    }

    /// The plan of `ids` on `main`, with `in_run` already in a running run.
    fn plan_ids(ws: &Workspace, ids: &[&str], in_run: &[&str]) -> Result<RunPlan, Error> {
        let view = overview(ws).expect("overview");
        let ids: Vec<String> = ids.iter().map(|&id| id.to_owned()).collect();
        let in_run = in_run.iter().map(|&id| id.to_owned()).collect();
        let selection = select(&view, &ids);
        plan(
            ws,
            &config(&ws.root),
            &view,
            "main".into(),
            &selection,
            &in_run,
        )
    }

    fn ids(selection: &Selection) -> Vec<String> {
        selection
            .changes
            .iter()
            .map(|v| v.change.id.clone())
            .collect()
    }

    const OPEN: &str = "- [ ] 1.1 do it\n";
    const TICKED: &str = "- [x] 1.1 done\n";

    #[test]
    fn without_ids_every_unfinished_change_runs_and_the_waiting_ones_are_notes() {
        let (_dir, ws) = repo(&[
            ("blocked", &[], OPEN),
            ("conflicting", &[], OPEN),
            ("done", &[], OPEN),
            ("finished-by-hand", &[], TICKED),
            ("interrupted", &[], OPEN),
            ("new", &[], OPEN),
        ]);
        record(&ws, "blocked", Phase::Blocked, Some("the reviewer said no"));
        record(&ws, "conflicting", Phase::Conflict, None);
        record(&ws, "done", Phase::Done, None);
        record(&ws, "interrupted", Phase::Applying, None);
        let view = overview(&ws).expect("overview");

        let selection = select(&view, &[]);

        assert_eq!(ids(&selection), ["interrupted", "new"]);
        assert_eq!(
            selection.notes,
            [
                Note::Blocked {
                    id: "blocked".into(),
                    reason: "the reviewer said no".into()
                },
                Note::Conflict {
                    id: "conflicting".into(),
                    reason: "see git conflux status -v".into()
                },
            ]
        );
    }

    #[test]
    fn named_changes_run_even_when_blocked_and_finished_ones_are_notes() {
        let (_dir, ws) = repo(&[("blocked", &[], OPEN), ("done", &[], OPEN)]);
        record(&ws, "blocked", Phase::Blocked, None);
        record(&ws, "done", Phase::Done, None);
        let view = overview(&ws).expect("overview");

        let selection = select(&view, &["blocked".into(), "done".into()]);

        assert_eq!(ids(&selection), ["blocked"]);
        assert_eq!(
            selection.notes,
            [Note::Finished {
                id: "done".into(),
                phase: Phase::Done
            }]
        );
    }

    #[test]
    fn a_selected_dependency_is_waited_for_and_a_done_one_is_built_on() {
        let (_dir, ws) = repo(&[
            ("merged", &[], OPEN),
            ("done", &[], OPEN),
            ("first", &[], OPEN),
            ("second", &["first", "done", "merged"], OPEN),
        ]);
        record(&ws, "merged", Phase::Merged, None);
        record(&ws, "done", Phase::Done, None);
        let run = plan_ids(&ws, &[], &[]).expect("plan");

        let second = run
            .jobs
            .iter()
            .find(|j| j.plan.change.id == "second")
            .expect("second is planned");
        assert_eq!(second.waits_for, [("first".into(), "conflux/first".into())]);
        assert_eq!(second.builds_on, [("done".into(), "conflux/done".into())]);
        assert_eq!(
            second.plan.worktree,
            ws.worktree_root(&config(&ws.root)).join("second")
        );
    }

    #[test]
    fn a_dependency_already_in_the_running_run_is_waited_for() {
        let (_dir, ws) = repo(&[("first", &[], OPEN), ("second", &["first"], OPEN)]);
        let run = plan_ids(&ws, &["second"], &["first"]).expect("plan");

        let ids: Vec<&str> = run.jobs.iter().map(|j| j.plan.change.id.as_str()).collect();
        assert_eq!(ids, ["second"]);
        assert_eq!(
            run.jobs[0].waits_for,
            [("first".into(), "conflux/first".into())]
        );
    }

    #[test]
    fn a_dependency_that_is_neither_selected_nor_done_is_refused() {
        let (_dir, ws) = repo(&[("first", &[], OPEN), ("second", &["first"], OPEN)]);
        let err = plan_ids(&ws, &["second"], &[]).err().expect("refused");

        assert!(
            matches!(&err, Error::DependencyNotDone { id, dep } if id == "second" && dep == "first"),
            "{err:?}"
        );
    }

    #[test]
    fn the_base_must_exist_and_must_not_be_a_change_branch() {
        let (_dir, ws) = repo(&[]);
        let mut config = config(&ws.root);
        assert_eq!(base_branch(&ws, &config).expect("main"), "main");

        config.base = Some("nope".into());
        let err = base_branch(&ws, &config).expect_err("absent");
        assert!(matches!(err, Error::NoBase { .. }), "{err:?}");

        config.base = Some("conflux/x".into());
        let err = base_branch(&ws, &config).expect_err("change branch");
        assert!(matches!(err, Error::BaseIsChangeBranch { .. }), "{err:?}");
    }
}
