//! The pager of `logs` on a terminal, chosen as git chooses its own.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

use crate::ui::Ui;

/// Prints `text` through the pager when stdout is a terminal and `allowed`, else directly.
/// The pager is `$GIT_PAGER`, else `$PAGER`, else `less` (with `LESS=FRX` unless `LESS` is
/// set: it quits at once when the text fits, keeps colours and leaves the screen as it was);
/// an empty one or `cat` means none. A pager that cannot start is skipped, never an error.
pub(crate) fn page(ui: &Ui, text: &str, allowed: bool) {
    let pager = ["GIT_PAGER", "PAGER"]
        .iter()
        .find_map(|var| std::env::var(var).ok())
        .unwrap_or_else(|| "less".to_owned());
    let none = pager.trim().is_empty() || pager.trim() == "cat";
    if !allowed || none || !std::io::stdout().is_terminal() {
        ui.out(text);
        return;
    }
    let mut command = Command::new("sh");
    command.args(["-c", &pager]).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        command.env("LESS", "FRX");
    }
    let Ok(mut child) = command.spawn() else {
        ui.out(text);
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit before the end (`q` in less) closes the pipe: not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    let _ = child.wait();
}
