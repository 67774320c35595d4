//! `git conflux tell`: a message for a running change's next iteration.

use std::io::Read;

use crate::cli::TellArgs;
use crate::commands::{Context, steer};
use crate::error::{CommandError, Exit};
use crate::run::control::Request;

/// The longest message: it goes into a prompt, not a document.
const MAX_MESSAGE: usize = 64 * 1024;

pub fn cmd_tell(ctx: &Context, args: TellArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    let message = match (&args.message, &args.file) {
        (Some(message), _) => message.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .take(MAX_MESSAGE as u64 + 1)
                .read_to_string(&mut text)
                .map_err(|e| {
                    CommandError::usage(format!("cannot read the message from standard input: {e}"))
                })?;
            text
        }
        (None, Some(path)) => {
            let bytes = crate::files::read(&ctx.cwd.join(path), None)
                .map_err(|e| CommandError::usage(e.to_string()))?
                .ok_or_else(|| CommandError::usage(format!("{}: no such file", path.display())))?;
            String::from_utf8(bytes)
                .map_err(|_| CommandError::usage(format!("{} is not UTF-8 text", path.display())))?
        }
        (None, None) => String::new(),
    };
    let message = message.trim().to_owned();
    if message.is_empty() {
        return Err(CommandError::usage("the message is empty")
            .hint("git conflux tell <ID> \"what the agent should know\""));
    }
    if message.len() > MAX_MESSAGE {
        return Err(CommandError::usage(format!(
            "the message is longer than {} KiB; put the details in a file of the change and point to it",
            MAX_MESSAGE / 1024
        )));
    }
    steer(
        ctx,
        &ws,
        Request::Tell {
            id: args.id,
            message,
            now: args.now,
        },
    )
}
