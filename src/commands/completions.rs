use crate::cli::CompletionsArgs;
use crate::commands::Context;
use crate::error::{CommandError, Exit};

pub fn cmd_completions(ctx: &Context, args: CompletionsArgs) -> Result<Exit, CommandError> {
    ctx.ui.out(&crate::docs::completion(args.shell));
    Ok(Exit::Ok)
}
