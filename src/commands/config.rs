//! `git conflux config check`: every configuration layer read and validated, nothing run.

use std::path::{Path, PathBuf};

use crate::agent::presets;
use crate::cli::{ConfigArgs, ConfigCommand};
use crate::commands::{Context, display_path};
use crate::config::{Config, Layer, REPO_FILE, user_config_path};
use crate::error::{CommandError, Exit};

pub fn cmd_config(ctx: &Context, args: ConfigArgs) -> Result<Exit, CommandError> {
    match args.command {
        ConfigCommand::Check(_) => check(ctx),
    }
}

/// Reads the user file, `.conflux.yaml` and every change's front matter as `start` would,
/// printing each file checked and each problem; a problem in one file does not hide the next.
fn check(ctx: &Context) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    let mut checked: Vec<PathBuf> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut record = |path: &Path, result: Result<(), String>| match result {
        Ok(()) => checked.push(path.to_owned()),
        Err(problem) => problems.push(problem),
    };
    let files = user_config_path()
        .map(|p| (p, None))
        .into_iter()
        .chain([(ws.root.join(REPO_FILE), Some(ws.root.as_path()))]);
    for (path, inside) in files {
        match Layer::load(&path, inside) {
            Ok(None) => {}
            Ok(Some(_)) => record(&path, Ok(())),
            Err(e) => record(&path, Err(e.to_string())),
        }
    }
    match crate::change::discover(&ws.root) {
        Err(e) => record(&ws.root, Err(e.to_string())),
        Ok(found) => {
            for problem in &found.problems {
                record(&problem.path, Err(problem.to_string()));
            }
            for change in found.changes.iter().filter(|c| c.config.is_some()) {
                let origin = change.dir.join("proposal.md");
                let value = change.config.as_ref().unwrap_or(&serde_json::Value::Null);
                let result = Layer::from_front_matter(value, &origin).map(|_| ());
                record(&origin, result.map_err(|e| e.to_string()));
            }
        }
    }
    if problems.is_empty() {
        problems.extend(refusals_before_running(&ws.root));
    }
    for path in &checked {
        ctx.ui
            .out(&format!("ok: {}\n", display_path(path, &ctx.cwd)));
    }
    if problems.is_empty() {
        if checked.is_empty() {
            ctx.ui.note("No configuration file found: the built-in defaults apply (`git conflux init` writes .conflux.yaml).");
        }
        return Ok(Exit::Ok);
    }
    for problem in &problems {
        ctx.ui.error(problem);
    }
    let count = match problems.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    Err(
        CommandError::usage(format!("{count} in the configuration (listed above)"))
            .hint("fix them, then run `git conflux config check` again"),
    )
}

/// What `start` would refuse of the merged configuration before any worktree exists: an agent
/// whose binary is missing, `claude` as root without IS_SANDBOX=1, a sandbox that cannot run.
/// Files that each read well can still add up to a run that cannot start.
fn refusals_before_running(root: &Path) -> Vec<String> {
    let config = match Config::load(root) {
        Ok(config) => config,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    if let Some(agent) = &config.agent {
        if let Err(e) = presets::check_available(agent) {
            problems.push(e.to_string());
        }
        if let Err(e) = presets::preflight(agent, &config.env) {
            problems.push(e.to_string());
        }
    }
    if let Err(e) = crate::run::sandbox::preflight(&config.sandbox) {
        problems.push(e.to_string());
    }
    problems
}
