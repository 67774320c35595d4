//! Agents' output streams turned into readable lines.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shape of an agent's stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    /// Plain text: lines pass through unchanged.
    Text,
    /// Claude Code `--output-format stream-json --verbose`.
    Claude,
    /// Codex `exec --json`.
    Codex,
    /// Gemini CLI `--output-format stream-json`.
    Gemini,
    /// OpenCode `run --format json`.
    Opencode,
    /// Aider's plain text: lines pass through, and its `Tokens: … Cost: …` reports are read
    /// as the run's usage.
    Aider,
}

impl StreamFormat {
    /// Whether the CLI puts a USD cost in its stream (Claude Code's `total_cost_usd`,
    /// OpenCode's `step_finish` cost, Aider's `Cost:` report); the others give tokens at most.
    pub fn reports_cost(self) -> bool {
        matches!(
            self,
            StreamFormat::Claude | StreamFormat::Opencode | StreamFormat::Aider
        )
    }
}

/// What a run cost and produced, as far as the stream says. Token counts are split the way
/// providers bill them, so that none is counted twice: `input_tokens` is the uncached input
/// only, `cache_read_tokens` the input served from the prompt cache, `cache_write_tokens` the
/// input written to it. `cost_usd` is the CLI's own figure, never one of ours.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub cost_usd: Option<f64>,
    /// Uncached input tokens.
    pub input_tokens: Option<u64>,
    /// Output tokens (reasoning included where the CLI counts it apart).
    pub output_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: Option<u64>,
    pub turns: Option<u32>,
    pub duration: Option<Duration>,
    /// The agent's final answer.
    pub final_text: Option<String>,
}

/// The lines one raw line decodes to.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    pub lines: Vec<String>,
    /// The line changed [`Decoder::usage`].
    pub usage_changed: bool,
    /// The agent's own error message, when the line reports one (the text of its `error:` line).
    pub error: Option<String>,
}

/// Longest tool argument shown on a tool-use line.
const MAX_ARG_CHARS: usize = 160;

/// Decodes one agent's stdout, line by line. Lines that are not JSON events of the format
/// (banners, warnings, anything unparsable) and events of unknown types pass through unchanged.
#[derive(Debug)]
pub struct Decoder {
    format: StreamFormat,
    usage: Usage,
    /// Paths under this directory are shown relative to it.
    root: Option<String>,
    /// Gemini streams assistant text in fragments; they are joined into whole lines here.
    pending: String,
    /// The assistant's latest message, the final answer if the stream has no result event.
    last_text: String,
    /// The last error shown: Codex repeats a turn's `error` event in its `turn.failed`.
    last_error: Option<String>,
}

impl Decoder {
    pub fn new(format: StreamFormat) -> Self {
        Decoder {
            format,
            usage: Usage::default(),
            root: None,
            pending: String::new(),
            last_text: String::new(),
            last_error: None,
        }
    }

    /// Shows paths under `root` (the worktree) relative to it.
    pub fn relative_to(mut self, root: &std::path::Path) -> Self {
        self.set_root(&root.to_string_lossy());
        self
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    pub fn format(&self) -> StreamFormat {
        self.format
    }

    /// Decodes one line (without its newline).
    pub fn decode(&mut self, line: &str) -> Decoded {
        let mut out = Out::default();
        if self.format == StreamFormat::Aider {
            out.usage_changed = aider_usage(line, &mut self.usage);
        }
        let handled = !matches!(self.format, StreamFormat::Text | StreamFormat::Aider)
            && line.trim_start().starts_with('{')
            && match self.format {
                StreamFormat::Text | StreamFormat::Aider => false,
                StreamFormat::Claude => self.claude(line, &mut out),
                StreamFormat::Codex => self.codex(line, &mut out),
                StreamFormat::Gemini => self.gemini(line, &mut out),
                StreamFormat::Opencode => self.opencode(line, &mut out),
            };
        if !handled {
            self.flush_pending(&mut out);
            out.lines.push(line.to_owned());
        }
        Decoded {
            lines: out.lines,
            usage_changed: out.usage_changed,
            error: out.error,
        }
    }

    /// Text still held back (a Gemini fragment without its newline), at end of stream.
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = Out::default();
        self.flush_pending(&mut out);
        out.lines
    }

    fn flush_pending(&mut self, out: &mut Out) {
        if !self.pending.is_empty() {
            let text = std::mem::take(&mut self.pending);
            out.text(&text);
        }
    }

    fn path<'s>(&self, p: &'s str) -> &'s str {
        match &self.root {
            Some(root) => p.strip_prefix(root.as_str()).unwrap_or(p),
            None => p,
        }
    }

    /// "Edit src/x.rs", "Bash cargo test", or just the tool's name.
    fn tool_line(&self, name: &str, input: Option<ToolInput<'_>>) -> String {
        self.tool_summary_line(name, input.and_then(ToolInput::summary))
    }

    /// [`Decoder::tool_line`] from the argument [`ToolInput::summary`] picked.
    fn tool_summary_line(&self, name: &str, arg: Option<(Cow<'_, str>, bool)>) -> String {
        match arg {
            Some((arg, true)) => format!("{name} {}", self.path(&arg)),
            Some((arg, false)) => format!("{name} {}", clip(&arg)),
            None => name.to_owned(),
        }
    }

    /// Claude Code `--output-format stream-json --verbose`: system, assistant, user and
    /// result events.
    fn claude(&mut self, line: &str, out: &mut Out) -> bool {
        let Ok(ev) = serde_json::from_str::<claude::Event<'_>>(line) else {
            return false;
        };
        match (ev.kind, ev.subtype) {
            ("system", Some("init")) => {
                if self.root.is_none()
                    && let Some(cwd) = &ev.cwd
                {
                    self.set_root(cwd);
                }
                out.push(format!(
                    "session started (model {})",
                    ev.model.as_deref().unwrap_or("unknown")
                ));
            }
            ("system", Some("api_retry")) => out.push(format!(
                "API retry {}/{}: {} {}",
                ev.attempt.unwrap_or(0),
                ev.max_retries.unwrap_or(0),
                ev.error_status.map(|s| s.to_string()).unwrap_or_default(),
                ev.error
                    .as_ref()
                    .and_then(|e| e.0.as_deref())
                    .unwrap_or("error")
            )),
            // The CLI's stand-in message for a failed API call repeats the error the result
            // event reports; it is shown once, as that result's "error:" line.
            ("assistant", _)
                if ev
                    .message
                    .as_ref()
                    .is_some_and(|m| m.model.as_deref() == Some("<synthetic>")) => {}
            ("assistant", _) => {
                for piece in ev.message.map(|m| m.content.0).unwrap_or_default() {
                    match piece {
                        Piece::Text(text) => {
                            out.text(&text);
                            text.as_ref().clone_into(&mut self.last_text);
                        }
                        Piece::ToolUse { name, arg } => {
                            out.push(self.tool_summary_line(&name, arg))
                        }
                        Piece::ToolResult { .. } => {}
                    }
                }
            }
            ("user", _) => {
                for piece in ev.message.map(|m| m.content.0).unwrap_or_default() {
                    if let Piece::ToolResult { summary, is_error } = piece {
                        out.push(summary.line(is_error));
                    }
                }
            }
            ("result", _) => {
                let u = &mut self.usage;
                u.cost_usd = ev.total_cost_usd.or(u.cost_usd);
                u.turns = ev.num_turns.or(u.turns);
                u.duration = ev.duration_ms.map(Duration::from_millis).or(u.duration);
                if let Some(t) = &ev.usage {
                    u.input_tokens = t.input_tokens.or(u.input_tokens);
                    u.output_tokens = t.output_tokens.or(u.output_tokens);
                    u.cache_read_tokens = t.cache_read_input_tokens.or(u.cache_read_tokens);
                    u.cache_write_tokens = t.cache_creation_input_tokens.or(u.cache_write_tokens);
                }
                let text = ev.result.as_deref().unwrap_or("");
                if ev.is_error == Some(true) {
                    out.error(first_line(text));
                } else {
                    u.final_text = Some(text.to_owned());
                }
                out.usage_changed = true;
                out.lines.extend(summary_line(&self.usage));
            }
            _ => return false,
        }
        true
    }

    fn set_root(&mut self, root: &str) {
        let mut r = root.to_owned();
        if !r.ends_with('/') {
            r.push('/');
        }
        self.root = Some(r);
    }

    /// Codex `exec --json`: thread, turn and item events.
    fn codex(&mut self, line: &str, out: &mut Out) -> bool {
        let Ok(ev) = serde_json::from_str::<codex::Event<'_>>(line) else {
            return false;
        };
        match ev.kind {
            "thread.started" | "turn.started" => {}
            "turn.completed" => {
                let u = &mut self.usage;
                if let Some(t) = &ev.usage {
                    // Codex counts cached input inside input_tokens.
                    let cached = t.cached_input_tokens.unwrap_or(0);
                    let input = t.input_tokens.unwrap_or(0).saturating_sub(cached);
                    add_to(&mut u.input_tokens, Some(input));
                    add_to(&mut u.cache_read_tokens, t.cached_input_tokens);
                    add_to(&mut u.output_tokens, t.output_tokens);
                }
                u.turns = Some(u.turns.unwrap_or(0) + 1);
                if !self.last_text.is_empty() {
                    u.final_text = Some(self.last_text.clone());
                }
                out.usage_changed = true;
                out.lines.extend(summary_line(&self.usage));
            }
            "turn.failed" | "error" => {
                let msg = ev
                    .error
                    .as_ref()
                    .and_then(|e| e.message.as_deref())
                    .or(ev.message.as_deref())
                    .unwrap_or("unknown error");
                if ev.kind == "turn.failed" && self.last_error.as_deref() == Some(msg) {
                    out.error = Some(msg.to_owned());
                } else {
                    out.error(msg);
                }
                self.last_error = Some(msg.to_owned());
            }
            "item.started" | "item.updated" | "item.completed" => {
                let Some(item) = ev.item else { return false };
                let done = ev.kind == "item.completed";
                match (item.kind, done) {
                    ("agent_message" | "plan", true) => {
                        let text = item.text.as_deref().unwrap_or("");
                        out.text(text);
                        text.clone_into(&mut self.last_text);
                    }
                    ("reasoning", _) => {}
                    ("command_execution", false) if ev.kind == "item.started" => {
                        let cmd = item.command.as_deref().unwrap_or("");
                        out.push(format!("Bash {}", clip(&shell_script(cmd))));
                    }
                    ("command_execution", true) => {
                        let output = item.aggregated_output.as_deref().unwrap_or("");
                        let status = match item.exit_code {
                            Some(0) => String::new(),
                            Some(c) => format!("exit {c}: "),
                            None => format!("{}: ", item.status.unwrap_or("ended")),
                        };
                        out.push(format!("  → {status}{}", lines_summary(output)));
                    }
                    ("file_change", true) => {
                        for c in item.changes.unwrap_or_default() {
                            let verb = match c.kind {
                                "add" => "Add",
                                "delete" => "Delete",
                                _ => "Edit",
                            };
                            out.push(format!("{verb} {}", self.path(&c.path)));
                        }
                    }
                    ("mcp_tool_call", false) if ev.kind == "item.started" => out.push(format!(
                        "{}.{}",
                        item.server.as_deref().unwrap_or("mcp"),
                        item.tool.as_deref().unwrap_or("tool")
                    )),
                    ("web_search", false) if ev.kind == "item.started" => out.push(format!(
                        "WebSearch {}",
                        clip(item.query.as_deref().unwrap_or(""))
                    )),
                    ("todo_list", _) => {
                        let items = item.items.unwrap_or_default();
                        let done = items.iter().filter(|t| t.completed).count();
                        if ev.kind != "item.updated" || done > 0 {
                            out.push(format!("todo {done}/{} done", items.len()));
                        }
                    }
                    // An error item is a warning (a config warning, a deprecation, a model
                    // without metadata): the turn goes on. Errors are `error` events.
                    ("error", _) => out.push(format!(
                        "warning: {}",
                        item.message.as_deref().unwrap_or("(no message)")
                    )),
                    (
                        "command_execution" | "file_change" | "mcp_tool_call" | "web_search"
                        | "collab_tool_call",
                        _,
                    )
                    | ("agent_message" | "plan", false) => {}
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
    }

    /// Gemini CLI `--output-format stream-json`: init, message (assistant text in fragments),
    /// tool_use, tool_result, error and result events.
    fn gemini(&mut self, line: &str, out: &mut Out) -> bool {
        let Ok(ev) = serde_json::from_str::<gemini::Event<'_>>(line) else {
            return false;
        };
        if ev.kind == "message" && ev.role == Some("assistant") {
            let text = ev.content.as_deref().unwrap_or("");
            self.pending.push_str(text);
            self.last_text.push_str(text);
            if let Some(i) = self.pending.rfind('\n') {
                let rest = self.pending.split_off(i + 1);
                let done = std::mem::replace(&mut self.pending, rest);
                out.text(&done);
            }
            return true;
        }
        self.flush_pending(out);
        match ev.kind {
            "init" => out.push(format!(
                "session started (model {})",
                ev.model.as_deref().unwrap_or("unknown")
            )),
            "message" => {}
            "tool_use" => {
                self.last_text.clear();
                out.push(self.tool_line(ev.tool_name.as_deref().unwrap_or("tool"), ev.parameters))
            }
            "tool_result" => {
                if ev.status == Some("error") {
                    let msg = ev
                        .error
                        .as_ref()
                        .and_then(|e| e.message.as_deref())
                        .unwrap_or("error");
                    out.push(format!("  ✗ {}", first_line(msg)));
                } else {
                    out.push(format!(
                        "  → {}",
                        lines_summary(ev.output.as_deref().unwrap_or(""))
                    ));
                }
            }
            "error" => match ev.severity {
                Some(severity) if severity != "error" => out.push(format!(
                    "{severity}: {}",
                    ev.message.as_deref().unwrap_or("")
                )),
                _ => out.error(ev.message.as_deref().unwrap_or("")),
            },
            "result" => {
                let u = &mut self.usage;
                if let Some(st) = &ev.stats {
                    // `input_tokens` is the whole prompt; `input` its uncached part.
                    let uncached = st.input.or_else(|| {
                        st.input_tokens
                            .map(|all| all.saturating_sub(st.cached.unwrap_or(0)))
                    });
                    u.input_tokens = uncached.or(u.input_tokens);
                    u.cache_read_tokens = st.cached.or(u.cache_read_tokens);
                    u.output_tokens = st.output_tokens.or(u.output_tokens);
                    u.duration = st.duration_ms.map(Duration::from_millis).or(u.duration);
                }
                if ev.status == Some("error") {
                    let msg = ev
                        .error
                        .as_ref()
                        .and_then(|e| e.message.as_deref())
                        .unwrap_or("");
                    out.error(first_line(msg));
                } else if !self.last_text.is_empty() {
                    u.final_text = Some(self.last_text.clone());
                }
                out.usage_changed = true;
                out.lines.extend(summary_line(&self.usage));
            }
            _ => return false,
        }
        true
    }

    /// OpenCode `run --format json`: `{type, timestamp, sessionID, part}` events.
    fn opencode(&mut self, line: &str, out: &mut Out) -> bool {
        let Ok(ev) = serde_json::from_str::<opencode::Event<'_>>(line) else {
            return false;
        };
        match ev.kind {
            "step_start" | "reasoning" => {}
            "text" => {
                let text = ev
                    .part
                    .as_ref()
                    .and_then(|p| p.text.as_deref())
                    .unwrap_or("");
                out.text(text);
                text.clone_into(&mut self.last_text);
            }
            "tool_use" => {
                let Some(mut part) = ev.part else {
                    return false;
                };
                let input = part.state.as_mut().and_then(|s| s.input.take());
                out.push(self.tool_line(part.tool.as_deref().unwrap_or("tool"), input));
                match &part.state {
                    Some(s) if s.status == Some("error") => out.push(format!(
                        "  ✗ {}",
                        first_line(s.error.as_deref().unwrap_or(""))
                    )),
                    Some(s) => out.push(format!(
                        "  → {}",
                        lines_summary(s.output.as_deref().unwrap_or(""))
                    )),
                    None => {}
                }
            }
            "step_finish" => {
                let Some(part) = &ev.part else { return false };
                let u = &mut self.usage;
                if let Some(c) = part.cost {
                    u.cost_usd = Some(u.cost_usd.unwrap_or(0.0) + c);
                }
                if let Some(t) = &part.tokens {
                    add_to(&mut u.input_tokens, Some(t.input.unwrap_or(0)));
                    let output = t.output.unwrap_or(0) + t.reasoning.unwrap_or(0);
                    add_to(&mut u.output_tokens, Some(output));
                    if let Some(c) = &t.cache {
                        add_to(&mut u.cache_read_tokens, c.read);
                        add_to(&mut u.cache_write_tokens, c.write);
                    }
                }
                u.turns = Some(u.turns.unwrap_or(0) + 1);
                if !self.last_text.is_empty() {
                    u.final_text = Some(self.last_text.clone());
                }
                out.usage_changed = true;
            }
            "error" => {
                let data = ev.error.as_ref().and_then(|e| e.data.as_ref());
                let msg = data
                    .and_then(|d| d.message.as_deref())
                    .or_else(|| ev.error.as_ref().and_then(|e| e.name.as_deref()))
                    .unwrap_or("unknown error");
                // The status is what tells a rate limit (429) from a refusal (401) when the
                // provider's words do not.
                match data.and_then(|d| d.status_code) {
                    Some(status) => out.error(&format!("{msg} (HTTP {status})")),
                    None => out.error(msg),
                }
            }
            _ => return false,
        }
        true
    }
}

/// Lines being produced for one raw line.
#[derive(Default)]
struct Out {
    lines: Vec<String>,
    usage_changed: bool,
    error: Option<String>,
}

impl Out {
    fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    /// The agent reports an error: shown as an `error:` line and kept for the failure reason.
    fn error(&mut self, message: &str) {
        self.lines.push(format!("error: {message}"));
        self.error = Some(message.to_owned());
    }

    /// Assistant text: one line per non-empty text line.
    fn text(&mut self, text: &str) {
        self.lines.extend(
            text.lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
}

/// Adds a count the stream reports to one summed over the run's events.
fn add_to(total: &mut Option<u64>, more: Option<u64>) {
    if let Some(more) = more {
        *total = Some(total.unwrap_or(0) + more);
    }
}

/// Reads Aider's usage report into `u`: "Tokens: 2.5k sent, 1.2k cache write, 3.4k cache hit,
/// 123 received." and "Cost: $0.0043 message, $0.0120 session." (on the same line or the
/// next). Aider's figures are for the message so far, so each report replaces the last; its
/// "sent" includes the cached input, which is taken out to keep the three input counts apart.
fn aider_usage(line: &str, u: &mut Usage) -> bool {
    let mut changed = false;
    let line = line.trim();
    if let Some(report) = line.strip_prefix("Tokens: ") {
        let tokens = report.split(". Cost:").next().unwrap_or(report);
        let mut counts = (None, 0, 0, None);
        for part in tokens.trim_end_matches('.').split(", ") {
            let Some((count, what)) = part.split_once(' ') else {
                continue;
            };
            let Some(count) = aider_count(count) else {
                continue;
            };
            match what {
                "sent" => counts.0 = Some(count),
                "cache write" => counts.1 = count,
                "cache hit" => counts.2 = count,
                "received" => counts.3 = Some(count),
                _ => {}
            }
        }
        if let (Some(sent), write, hit, Some(received)) = counts {
            u.input_tokens = Some(sent.saturating_sub(write + hit));
            u.cache_write_tokens = (write > 0).then_some(write);
            u.cache_read_tokens = (hit > 0).then_some(hit);
            u.output_tokens = Some(received);
            changed = true;
        }
    }
    if let Some((_, cost)) = line.split_once("Cost: $")
        && let Some((message, _)) = cost.split_once(" message")
        && let Ok(usd) = message.parse::<f64>()
    {
        u.cost_usd = Some(usd);
        changed = true;
    }
    changed
}

/// Aider's rounded token count: `123`, `1.2k`, `12k`, `1.5M`.
fn aider_count(text: &str) -> Option<u64> {
    let (number, scale) = match text.as_bytes().last()? {
        b'k' => (&text[..text.len() - 1], 1e3),
        b'M' => (&text[..text.len() - 1], 1e6),
        _ => (text, 1.0),
    };
    let value = number.parse::<f64>().ok()? * scale;
    (value.is_finite() && value >= 0.0).then(|| value.round() as u64)
}

/// "done: 6 turns, 1.5s, $0.5954, 12 in / 382 out tokens, cache 117163 read / 0 written",
/// with what is known; nothing when nothing is (a refused run reports no usage).
fn summary_line(u: &Usage) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = u.turns {
        parts.push(format!("{t} turn{}", if t == 1 { "" } else { "s" }));
    }
    if let Some(d) = u.duration {
        parts.push(format!("{:.1}s", d.as_secs_f64()));
    }
    if let Some(c) = u.cost_usd {
        parts.push(format!("${c:.4}"));
    }
    if u.input_tokens.is_some() || u.output_tokens.is_some() {
        parts.push(format!(
            "{} in / {} out tokens",
            u.input_tokens.unwrap_or(0),
            u.output_tokens.unwrap_or(0)
        ));
    }
    if u.cache_read_tokens.unwrap_or(0) + u.cache_write_tokens.unwrap_or(0) > 0 {
        parts.push(format!(
            "cache {} read / {} written",
            u.cache_read_tokens.unwrap_or(0),
            u.cache_write_tokens.unwrap_or(0)
        ));
    }
    (!parts.is_empty()).then(|| format!("done: {}", parts.join(", ")))
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// The script of a command Codex wraps in its shell (`/bin/bash -lc 'cat x'` → `cat x`), or
/// the command as it is.
fn shell_script(command: &str) -> Cow<'_, str> {
    match shell_words::split(command).as_deref() {
        Ok([shell, flag, script])
            if shell.rsplit('/').next().is_some_and(|s| s.ends_with("sh"))
                && matches!(flag.as_str(), "-c" | "-lc") =>
        {
            Cow::Owned(script.clone())
        }
        _ => Cow::Borrowed(command),
    }
}

/// "first line (+12 lines)" for a tool's output.
fn lines_summary(s: &str) -> String {
    let n = s.lines().filter(|l| !l.trim().is_empty()).count();
    match n {
        0 => "(no output)".to_owned(),
        1 => clip(first_line(s)),
        _ => format!("{} (+{} lines)", clip(first_line(s)), n - 1),
    }
}

/// The first line of `s`, at most [`MAX_ARG_CHARS`] characters.
fn clip(s: &str) -> String {
    let line = first_line(s);
    match line.char_indices().nth(MAX_ARG_CHARS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None if line.len() < s.trim().len() => format!("{line} …"),
        None => line.to_owned(),
    }
}

/// The arguments of a tool call, as far as a one-line summary needs them.
#[derive(Debug, Default, Deserialize)]
struct ToolInput<'a> {
    #[serde(borrow, default)]
    file_path: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "filePath")]
    file_path_camel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    notebook_path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    command: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pattern: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dir_path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    query: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
}

impl<'a> ToolInput<'a> {
    /// The most telling argument, and whether it is a path.
    fn summary(self) -> Option<(Cow<'a, str>, bool)> {
        let path = self
            .file_path
            .or(self.file_path_camel)
            .or(self.notebook_path);
        let other = (self.command.or(self.pattern).or(self.url))
            .or(self.query)
            .or(self.description);
        path.map(|p| (p, true))
            .or(other.map(|o| (o, false)))
            .or(self.path.or(self.dir_path).map(|p| (p, true)))
    }
}

/// A tool result's content (a string, or text blocks), reduced to a one-line summary as it is
/// parsed.
#[derive(Debug, Default)]
struct ResultSummary {
    first: String,
    lines: usize,
}

impl ResultSummary {
    fn add(&mut self, text: &str) {
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            if self.lines == 0 {
                self.first = clip(l);
            }
            self.lines += 1;
        }
    }

    fn line(&self, is_error: bool) -> String {
        let mark = if is_error { "✗" } else { "→" };
        match self.lines {
            0 => format!("  {mark} (no output)"),
            1 => format!("  {mark} {}", self.first),
            n => format!("  {mark} {} (+{} lines)", self.first, n - 1),
        }
    }
}

impl<'de> Deserialize<'de> for ResultSummary {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ResultSummary;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of content blocks")
            }
            fn visit_str<E>(self, s: &str) -> Result<ResultSummary, E> {
                let mut r = ResultSummary::default();
                r.add(s);
                Ok(r)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ResultSummary, A::Error> {
                #[derive(Deserialize)]
                struct Block<'a> {
                    #[serde(borrow, default)]
                    text: Option<Cow<'a, str>>,
                }
                let mut r = ResultSummary::default();
                while let Some(b) = seq.next_element::<Block<'_>>()? {
                    r.add(b.text.as_deref().unwrap_or(""));
                }
                Ok(r)
            }
            fn visit_unit<E>(self) -> Result<ResultSummary, E> {
                Ok(ResultSummary::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Message content: Claude sends either a plain string or a list of blocks. Each block is
/// reduced to the [`Piece`] its line needs as it is parsed, so the full blocks (tool inputs
/// and all) are never stored.
#[derive(Debug, Default)]
struct Blocks<'a>(Vec<Piece<'a>>);

/// What one content block shows.
#[derive(Debug)]
enum Piece<'a> {
    Text(Cow<'a, str>),
    ToolUse {
        name: Cow<'a, str>,
        /// [`ToolInput::summary`].
        arg: Option<(Cow<'a, str>, bool)>,
    },
    ToolResult {
        summary: ResultSummary,
        is_error: bool,
    },
}

impl<'de: 'a, 'a> Deserialize<'de> for Blocks<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Blocks<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of content blocks")
            }
            fn visit_str<E>(self, _: &str) -> Result<Blocks<'a>, E> {
                // A plain string is the user's prompt echoed back: nothing to show.
                Ok(Blocks::default())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Blocks<'a>, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = seq.next_element::<claude::Block<'a>>()? {
                    v.extend(match b.kind {
                        "text" => Some(Piece::Text(b.text.unwrap_or_default())),
                        "tool_use" => Some(Piece::ToolUse {
                            name: b.name.unwrap_or(Cow::Borrowed("tool")),
                            arg: b.input.and_then(ToolInput::summary),
                        }),
                        "tool_result" => Some(Piece::ToolResult {
                            summary: b.content.unwrap_or_default(),
                            is_error: b.is_error.unwrap_or(false),
                        }),
                        _ => None,
                    });
                }
                Ok(Blocks(v))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Any JSON value, keeping only a string: an API error is a string or an object.
#[derive(Debug)]
struct ErrorText<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for ErrorText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = ErrorText<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<ErrorText<'a>, E> {
                Ok(ErrorText(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E>(self, s: &str) -> Result<ErrorText<'a>, E> {
                Ok(ErrorText(Some(Cow::Owned(s.to_owned()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ErrorText<'a>, E> {
                Ok(ErrorText(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ErrorText<'a>, E> {
                Ok(ErrorText(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ErrorText<'a>, E> {
                Ok(ErrorText(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ErrorText<'a>, E> {
                Ok(ErrorText(None))
            }
            fn visit_unit<E>(self) -> Result<ErrorText<'a>, E> {
                Ok(ErrorText(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ErrorText<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ErrorText(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ErrorText<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ErrorText(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Claude Code's stream-json events (the fields read here).
mod claude {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct Event<'a> {
        #[serde(rename = "type")]
        pub kind: &'a str,
        #[serde(default)]
        pub subtype: Option<&'a str>,
        #[serde(borrow, default)]
        pub message: Option<Message<'a>>,
        #[serde(borrow, default)]
        pub cwd: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub model: Option<Cow<'a, str>>,
        #[serde(default)]
        pub attempt: Option<u32>,
        #[serde(default)]
        pub max_retries: Option<u32>,
        #[serde(default)]
        pub error_status: Option<u32>,
        #[serde(borrow, default)]
        pub error: Option<ErrorText<'a>>,
        #[serde(default)]
        pub is_error: Option<bool>,
        #[serde(borrow, default)]
        pub result: Option<Cow<'a, str>>,
        #[serde(default)]
        pub total_cost_usd: Option<f64>,
        #[serde(default)]
        pub duration_ms: Option<u64>,
        #[serde(default)]
        pub num_turns: Option<u32>,
        #[serde(default)]
        pub usage: Option<TokenUsage>,
    }

    #[derive(Deserialize)]
    pub(super) struct Message<'a> {
        #[serde(borrow, default)]
        pub content: Blocks<'a>,
        #[serde(borrow, default)]
        pub model: Option<Cow<'a, str>>,
    }

    #[derive(Debug, Deserialize)]
    pub(super) struct Block<'a> {
        #[serde(rename = "type")]
        pub kind: &'a str,
        #[serde(borrow, default)]
        pub text: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub input: Option<ToolInput<'a>>,
        #[serde(default)]
        pub content: Option<ResultSummary>,
        #[serde(default)]
        pub is_error: Option<bool>,
    }

    #[derive(Deserialize)]
    pub(super) struct TokenUsage {
        #[serde(default)]
        pub input_tokens: Option<u64>,
        #[serde(default)]
        pub output_tokens: Option<u64>,
        #[serde(default)]
        pub cache_creation_input_tokens: Option<u64>,
        #[serde(default)]
        pub cache_read_input_tokens: Option<u64>,
    }
}

/// Codex `exec --json` events (codex-rs/exec/src/exec_events.rs).
mod codex {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct Event<'a> {
        #[serde(rename = "type")]
        pub kind: &'a str,
        #[serde(borrow, default)]
        pub item: Option<Item<'a>>,
        #[serde(default)]
        pub usage: Option<TokenUsage>,
        #[serde(borrow, default)]
        pub error: Option<Error<'a>>,
        #[serde(borrow, default)]
        pub message: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Error<'a> {
        #[serde(borrow, default)]
        pub message: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub(super) struct TokenUsage {
        #[serde(default)]
        pub input_tokens: Option<u64>,
        #[serde(default)]
        pub cached_input_tokens: Option<u64>,
        #[serde(default)]
        pub output_tokens: Option<u64>,
    }

    #[derive(Deserialize)]
    pub(super) struct Item<'a> {
        #[serde(rename = "type")]
        pub kind: &'a str,
        #[serde(borrow, default)]
        pub text: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub command: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub aggregated_output: Option<Cow<'a, str>>,
        #[serde(default)]
        pub exit_code: Option<i32>,
        #[serde(default)]
        pub status: Option<&'a str>,
        #[serde(borrow, default)]
        pub changes: Option<Vec<Change<'a>>>,
        #[serde(borrow, default)]
        pub server: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub tool: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub query: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub items: Option<Vec<Todo<'a>>>,
        #[serde(borrow, default)]
        pub message: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Change<'a> {
        #[serde(borrow)]
        pub path: Cow<'a, str>,
        pub kind: &'a str,
    }

    #[derive(Deserialize)]
    pub(super) struct Todo<'a> {
        #[serde(borrow, default, rename = "text")]
        pub _text: Option<Cow<'a, str>>,
        #[serde(default)]
        pub completed: bool,
    }
}

/// Gemini CLI stream-json events (packages/cli nonInteractiveCli, StreamJsonFormatter).
mod gemini {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct Event<'a> {
        #[serde(rename = "type")]
        pub kind: &'a str,
        #[serde(default)]
        pub role: Option<&'a str>,
        #[serde(borrow, default)]
        pub content: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub model: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub tool_name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub parameters: Option<ToolInput<'a>>,
        #[serde(default)]
        pub status: Option<&'a str>,
        #[serde(borrow, default)]
        pub output: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub error: Option<Error<'a>>,
        #[serde(default)]
        pub severity: Option<&'a str>,
        #[serde(borrow, default)]
        pub message: Option<Cow<'a, str>>,
        #[serde(default)]
        pub stats: Option<Stats>,
    }

    #[derive(Deserialize)]
    pub(super) struct Error<'a> {
        #[serde(borrow, default)]
        pub message: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Stats {
        #[serde(default)]
        pub input_tokens: Option<u64>,
        #[serde(default)]
        pub input: Option<u64>,
        #[serde(default)]
        pub cached: Option<u64>,
        #[serde(default)]
        pub output_tokens: Option<u64>,
        #[serde(default)]
        pub duration_ms: Option<u64>,
    }
}

/// OpenCode `run --format json` events: a session event and the message part it carries.
mod opencode {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct Event<'a> {
        #[serde(rename = "type")]
        pub kind: &'a str,
        #[serde(borrow, default)]
        pub part: Option<Part<'a>>,
        #[serde(borrow, default)]
        pub error: Option<Error<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Part<'a> {
        #[serde(borrow, default)]
        pub text: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub tool: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub state: Option<ToolState<'a>>,
        #[serde(default)]
        pub cost: Option<f64>,
        #[serde(default)]
        pub tokens: Option<Tokens>,
    }

    #[derive(Deserialize)]
    pub(super) struct ToolState<'a> {
        #[serde(default)]
        pub status: Option<&'a str>,
        #[serde(borrow, default)]
        pub input: Option<ToolInput<'a>>,
        #[serde(borrow, default)]
        pub output: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub error: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Tokens {
        #[serde(default)]
        pub input: Option<u64>,
        #[serde(default)]
        pub output: Option<u64>,
        #[serde(default)]
        pub reasoning: Option<u64>,
        #[serde(default)]
        pub cache: Option<Cache>,
    }

    #[derive(Deserialize)]
    pub(super) struct Cache {
        #[serde(default)]
        pub read: Option<u64>,
        #[serde(default)]
        pub write: Option<u64>,
    }

    #[derive(Deserialize)]
    pub(super) struct Error<'a> {
        #[serde(borrow, default)]
        pub name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub data: Option<ErrorData<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct ErrorData<'a> {
        #[serde(borrow, default)]
        pub message: Option<Cow<'a, str>>,
        #[serde(default, rename = "statusCode")]
        pub status_code: Option<u16>,
    }
}

impl Usage {
    /// Two runs' usage added up; the later final text wins.
    pub fn plus(&self, later: &Usage) -> Usage {
        fn add<T: std::ops::Add<Output = T> + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        Usage {
            cost_usd: add(self.cost_usd, later.cost_usd),
            input_tokens: add(self.input_tokens, later.input_tokens),
            output_tokens: add(self.output_tokens, later.output_tokens),
            cache_read_tokens: add(self.cache_read_tokens, later.cache_read_tokens),
            cache_write_tokens: add(self.cache_write_tokens, later.cache_write_tokens),
            turns: add(self.turns, later.turns),
            duration: add(self.duration, later.duration),
            final_text: later.final_text.clone().or_else(|| self.final_text.clone()),
        }
    }
}
