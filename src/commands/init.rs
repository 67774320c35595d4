//! `git conflux init`: a commented `.conflux.yaml` with the first agent found on PATH.

use crate::agent::presets::{PRESET_NAMES, preset};
use crate::cli::InitArgs;
use crate::commands::Context;
use crate::config::REPO_FILE;
use crate::error::{CommandError, Exit};
use crate::run::state::write_atomic;

/// The file `init` writes; every key is documented in place.
pub const TEMPLATE: &str = include_str!("init_template.yaml");

pub fn cmd_init(ctx: &Context, args: InitArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    let path = ws.root.join(REPO_FILE);
    if path.exists() && !args.force {
        return Err(
            CommandError::usage(format!("{} already exists", path.display()))
                .hint("pass --force to overwrite it, or edit it by hand"),
        );
    }
    let agent = match args.agent {
        Some(name) => {
            if preset(&name).is_none() {
                return Err(
                    CommandError::usage(format!("unknown agent preset `{name}`")).hint(format!(
                        "presets: {}; any other command goes in `agent: {{command: ...}}`",
                        PRESET_NAMES.join(", ")
                    )),
                );
            }
            Some(name)
        }
        None => PRESET_NAMES
            .iter()
            .find(|n| preset(n).is_some_and(|p| which::which(p.binary).is_ok()))
            .map(|n| n.to_string()),
    };
    let agent_line = match &agent {
        Some(name) => format!("agent: {name}"),
        None => {
            "# agent: claude        # no agent CLI was found on PATH: install one, or set a command"
                .to_owned()
        }
    };
    let text = TEMPLATE.replace("{agent_line}", &agent_line);
    write_atomic(&path, text.as_bytes()).map_err(|e| CommandError::from_error(Exit::Usage, e))?;
    match agent {
        Some(name) => {
            ctx.ui.note(&format!("Wrote {} (agent: {name}). Commit it, then run `git conflux start`.", path.display()))
        }
        None => ctx.ui.warn(&format!(
            "Wrote {}, but no agent CLI ({}) is on PATH: install one or set `agent:` before `git conflux start`.",
            path.display(),
            PRESET_NAMES.join(", ")
        )),
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_is_valid_configuration_with_and_without_an_agent() {
        let origin = std::path::Path::new(".conflux.yaml");
        for line in ["agent: claude", "# agent: claude"] {
            let text = super::TEMPLATE.replace("{agent_line}", line);
            crate::config::Layer::parse(&text, origin).unwrap();
        }
    }
}
