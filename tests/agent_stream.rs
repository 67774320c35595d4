//! Stream decoders on recorded lines (Claude Code, from the real CLI) and lines built from
//! each CLI's own event definitions (Codex `exec_events.rs`, Gemini CLI's stream-json
//! formatter, OpenCode's `run` command), including event types they do not know.

use std::path::Path;
use std::time::Duration;

use git_conflux::agent::presets::Invocation;
use git_conflux::agent::runner::{
    AgentEvent, Cancel, Limits, RetryPolicy, RunRequest, RunResult, Stagger, run,
};
use git_conflux::agent::stream::{Decoder, StreamFormat, Usage};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agent")
        .join(name)
}

fn decode(mut d: Decoder, name: &str) -> (Vec<String>, Usage) {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        out.extend(d.decode(line).lines);
    }
    out.extend(d.finish());
    (out, d.usage().clone())
}

#[test]
fn claude_stream_json_from_the_real_cli() {
    let root = Path::new("/tmp/rec/repo");
    let (lines, usage) = decode(
        Decoder::new(StreamFormat::Claude).relative_to(root),
        "claude-success.jsonl",
    );
    assert_eq!(
        lines,
        [
            "session started (model claude-opus-4-8[1m])",
            "I'll start by reading the task list of change add-x.",
            "Read openspec/changes/add-x/tasks.md",
            "  → 1\t## 1. Work (+3 lines)",
            "Writing mock_output/add-x/task-1.1.txt.",
            "Write mock_output/add-x/task-1.1.txt",
            "  → File created successfully at: /tmp/rec/repo/mock_output/add-x/task-1.1.txt (file state is current in your context — no need to Read it back)",
            "Task 1.1 is done; ticking it in tasks.md.",
            "Edit openspec/changes/add-x/tasks.md",
            "  → The file /tmp/rec/repo/openspec/changes/add-x/tasks.md has been updated successfully. (file state is current in your context — no need to Read it back)",
            "Writing mock_output/add-x/task-1.2.txt.",
            "Write mock_output/add-x/task-1.2.txt",
            "  → File created successfully at: /tmp/rec/repo/mock_output/add-x/task-1.2.txt (file state is current in your context — no need to Read it back)",
            "Task 1.2 is done; ticking it in tasks.md.",
            "Edit openspec/changes/add-x/tasks.md",
            "  → The file /tmp/rec/repo/openspec/changes/add-x/tasks.md has been updated successfully. (file state is current in your context — no need to Read it back)",
            "Completed 2 task(s) of change add-x: 1.1, 1.2. 0 task(s) remain unchecked.",
            "done: 6 turns, 1.5s, $0.5954, 117175 in / 382 out tokens",
        ]
    );
    assert_eq!(
        usage,
        Usage {
            cost_usd: Some(0.595425),
            input_tokens: Some(117175),
            output_tokens: Some(382),
            cache_read_tokens: Some(0),
            cache_write_tokens: Some(0),
            turns: Some(6),
            duration: Some(Duration::from_millis(1507)),
            final_text: Some(
                "Completed 2 task(s) of change add-x: 1.1, 1.2. 0 task(s) remain unchecked.".into()
            ),
        }
    );
}

#[test]
fn claude_takes_the_root_from_its_init_event() {
    let (lines, _) = decode(Decoder::new(StreamFormat::Claude), "claude-success.jsonl");
    assert_eq!(lines[2], "Read openspec/changes/add-x/tasks.md");
}

#[test]
fn claude_api_errors_and_unknown_events() {
    let (lines, usage) = decode(
        Decoder::new(StreamFormat::Claude),
        "claude-overloaded.jsonl",
    );
    assert_eq!(lines[1], "API retry 1/2: 529 overloaded");
    assert_eq!(lines[2], "API retry 2/2: 529 overloaded");
    // The CLI's synthetic assistant message repeats the error: shown once, as the result.
    assert!(
        lines[3].starts_with("error: API Error: 529 Overloaded."),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "done: 1 turn, 2.3s, $0.0000, 0 in / 0 out tokens");
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(usage.final_text, None);

    let mut d = Decoder::new(StreamFormat::Claude);
    let unknown = r#"{"type":"stream_event","event":{"type":"message_start"}}"#;
    assert_eq!(d.decode(unknown).lines, [unknown]);
    assert_eq!(
        d.decode("Warning: no stdin data received").lines,
        ["Warning: no stdin data received"]
    );
    assert_eq!(
        d.decode(r#"{"type":"result","truncated"#).lines,
        [r#"{"type":"result","truncated"#]
    );
    let d2 = d.decode(r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":0.25}"#);
    assert!(d2.usage_changed);
    assert_eq!(d.usage().cost_usd, Some(0.25));
}

#[test]
fn codex_exec_json() {
    let (lines, usage) = decode(
        Decoder::new(StreamFormat::Codex).relative_to(Path::new("/work/repo")),
        "codex-exec.jsonl",
    );
    assert_eq!(
        lines,
        [
            "Bash cat openspec/changes/add-x/tasks.md",
            "  → ## 1. Work (+2 lines)",
            "Add hello.txt",
            "Edit openspec/changes/add-x/tasks.md",
            "todo 1/2 done",
            "Bash cargo test",
            "  → exit 101: error: could not find `Cargo.toml` in `/work/repo` or any parent directory",
            "Created hello.txt and ticked task 1.1.",
            "Task 1.2 remains.",
            r#"{"type":"item.started","item":{"id":"item_6","type":"future_kind","detail":1}}"#,
            "done: 1 turn, 315 in / 122 out tokens, cache 24448 read / 0 written",
            r#"{"type":"session.renamed","name":"add-x"}"#,
            "Reading prompt from stdin...",
            "error: stream disconnected before completion: rate limit reached",
        ]
    );
    // Codex counts cached input inside input_tokens; kept apart here.
    assert_eq!(usage.input_tokens, Some(315));
    assert_eq!(usage.cache_read_tokens, Some(24448));
    assert_eq!(usage.output_tokens, Some(122));
    assert_eq!(usage.cost_usd, None);
    assert_eq!(
        usage.final_text.as_deref(),
        Some("Created hello.txt and ticked task 1.1.\nTask 1.2 remains.")
    );
}

#[test]
fn gemini_stream_json_joins_text_fragments() {
    let (lines, usage) = decode(
        Decoder::new(StreamFormat::Gemini).relative_to(Path::new("/work/repo")),
        "gemini-stream.jsonl",
    );
    assert_eq!(
        lines,
        [
            "session started (model gemini-2.5-pro)",
            "I'll read the task list first.",
            "Then",
            "read_file openspec/changes/add-x/tasks.md",
            "  → (no output)",
            "run_shell_command cargo test",
            "  ✗ Command exited with code 101",
            "Task 1.1 is done.",
            "warning: Loop detected, stopping execution",
            r#"{"type":"checkpoint","timestamp":"2025-10-10T12:00:06.200Z"}"#,
            "done: 6.3s, 12000 in / 534 out tokens",
        ]
    );
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens
        ),
        (Some(12000), Some(534), Some(0))
    );
    assert_eq!(usage.final_text.as_deref(), Some("Task 1.1 is done."));
}

#[test]
fn gemini_fragment_at_end_of_stream_is_kept() {
    let mut d = Decoder::new(StreamFormat::Gemini);
    let frag = r#"{"type":"message","timestamp":"2025-10-10T12:00:01.200Z","role":"assistant","content":"no newline","delta":true}"#;
    assert!(d.decode(frag).lines.is_empty());
    assert_eq!(d.finish(), ["no newline"]);
}

#[test]
fn opencode_run_json() {
    let (lines, usage) = decode(
        Decoder::new(StreamFormat::Opencode).relative_to(Path::new("/work/repo")),
        "opencode-run.jsonl",
    );
    assert_eq!(
        lines,
        [
            "Reading the tasks first.",
            "read openspec/changes/add-x/tasks.md",
            "  → <file> (+3 lines)",
            "bash cargo test",
            "  ✗ Command failed with exit code 101",
            "Task 1.1 is done.",
            "Task 1.2 remains.",
            r#"{"type":"patch","timestamp":1760097604200,"sessionID":"ses_6a1b2c3d4e5f","part":{"type":"patch","hash":"abc","files":["hello.txt"]}}"#,
            "error: Rate limit exceeded (HTTP 429)",
        ]
    );
    assert!((usage.cost_usd.unwrap() - 0.0168).abs() < 1e-9);
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.turns),
        (Some(2700), Some(120), Some(2))
    );
    assert_eq!(
        (usage.cache_read_tokens, usage.cache_write_tokens),
        (Some(300), Some(100))
    );
    assert_eq!(
        usage.final_text.as_deref(),
        Some("Task 1.1 is done.\n\nTask 1.2 remains.")
    );
}

#[test]
fn text_passes_everything_through() {
    let mut d = Decoder::new(StreamFormat::Text);
    let json = r#"{"type":"result","total_cost_usd":1.0}"#;
    assert_eq!(d.decode(json).lines, [json]);
    assert_eq!(d.decode("").lines, [""]);
    assert_eq!(d.usage(), &Usage::default());
}

/// The runner decodes stdout, reports usage added up over attempts, and retries on the
/// error a Claude stream ends with.
#[tokio::test]
async fn runner_decodes_and_adds_usage_across_retries() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "if [ -e tried ]; then cat '{}'; else touch tried; cat '{}'; exit 1; fi",
        fixture("claude-success.jsonl").display(),
        fixture("claude-overloaded.jsonl").display()
    );
    let req = RunRequest {
        invocation: Invocation {
            command: script,
            stdin: None,
            format: StreamFormat::Claude,
            env: vec![],
        },
        cwd: dir.path().to_owned(),
        env: vec![],
        limits: Limits {
            inactivity_timeout: None,
            timeout: None,
            kill_grace: Duration::from_secs(2),
        },
        retry: RetryPolicy {
            delay: Duration::from_millis(1),
            min_runtime: Duration::ZERO,
            ..RetryPolicy::default()
        },
        owns_cwd: false,
        wrap: None,
    };
    let mut events = Vec::new();
    let out = run(
        req,
        &Stagger::new(Duration::ZERO),
        &Cancel::new(),
        &mut |e| events.push(e),
    )
    .await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(out.attempts, 2);
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Retrying { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        ["agent exited with code 1, output matched \"overloaded\""]
    );
    assert!(events.contains(&AgentEvent::Line {
        stream: git_conflux::agent::runner::Stream::Stdout,
        // Paths are shown relative to the run's cwd only; this recording ran elsewhere.
        text: "Edit /tmp/rec/repo/openspec/changes/add-x/tasks.md".into()
    }));
    assert_eq!(out.usage.cost_usd, Some(0.595425));
    assert_eq!(out.usage.turns, Some(7));
    let last_usage = events.iter().rev().find_map(|e| match e {
        AgentEvent::Usage(u) => Some(u.clone()),
        _ => None,
    });
    assert_eq!(last_usage, Some(out.usage.clone()));
    assert!(
        out.output_tail
            .ends_with("done: 6 turns, 1.5s, $0.5954, 117175 in / 382 out tokens")
    );
}

/// Each format's error events are kept as the agent's own error (for failure reasons);
/// warnings and ordinary lines are not.
#[test]
fn error_events_are_reported_as_the_agents_error() {
    let cases = [
        (
            StreamFormat::Claude,
            r#"{"type":"result","subtype":"success","is_error":true,"result":"Invalid API key · Please run /login"}"#,
            Some("Invalid API key · Please run /login"),
        ),
        (
            StreamFormat::Codex,
            r#"{"type":"turn.failed","error":{"message":"stream disconnected"}}"#,
            Some("stream disconnected"),
        ),
        (
            StreamFormat::Gemini,
            r#"{"type":"error","severity":"error","message":"quota exceeded"}"#,
            Some("quota exceeded"),
        ),
        (
            StreamFormat::Gemini,
            r#"{"type":"error","severity":"warning","message":"Loop detected"}"#,
            None,
        ),
        (
            StreamFormat::Opencode,
            r#"{"type":"error","error":{"name":"APIError","data":{"message":"Rate limit exceeded"}}}"#,
            Some("Rate limit exceeded"),
        ),
        (StreamFormat::Text, "error: looks like one", None),
    ];
    for (format, line, want) in cases {
        let got = Decoder::new(format).decode(line).error;
        assert_eq!(got.as_deref(), want, "{format:?}: {line}");
    }
}

/// Aider's text passes through; its `Tokens: … Cost: …` report (on one line, or two when both
/// cache counts are there) is the run's usage, each report replacing the last.
#[test]
fn aider_reports_are_read_as_usage() {
    let mut d = Decoder::new(StreamFormat::Aider);
    let line = "Tokens: 100 sent, 20 received. Cost: $0.00060 message, $0.00060 session.";
    let out = d.decode(line);
    assert_eq!(
        (out.lines, out.usage_changed),
        (vec![line.to_owned()], true)
    );
    assert_eq!(d.usage().cost_usd, Some(0.0006));
    d.decode("Applied edit to tasks.md");
    d.decode("Tokens: 12k sent, 1.2k cache write, 3.4k cache hit, 1.5k received.");
    d.decode("Cost: $0.05 message, $0.12 session.");
    let u = d.usage();
    assert_eq!(
        (
            u.input_tokens,
            u.cache_write_tokens,
            u.cache_read_tokens,
            u.output_tokens
        ),
        (Some(7400), Some(1200), Some(3400), Some(1500))
    );
    assert_eq!(u.cost_usd, Some(0.05));
    assert!(!d.decode("Tokens: many sent").usage_changed);
}

/// A result that reports no usage (a refused run) ends without an empty `done:` line.
#[test]
fn a_result_without_usage_adds_no_empty_summary() {
    let out = Decoder::new(StreamFormat::Claude).decode(
        r#"{"type":"result","subtype":"success","is_error":true,"result":"Invalid API key"}"#,
    );
    assert_eq!(out.lines, ["error: Invalid API key"]);
}

/// Cached input is kept apart from the uncached input, as each CLI reports it: Claude's
/// cache read and creation counts, Gemini's `cached` part of its prompt tokens.
#[test]
fn cache_tokens_are_kept_apart_from_input() {
    let mut d = Decoder::new(StreamFormat::Claude);
    let out = d.decode(r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":0.42,"usage":{"input_tokens":12,"cache_creation_input_tokens":2000,"cache_read_input_tokens":40000,"output_tokens":1200}}"#);
    assert_eq!(
        out.lines,
        ["done: $0.4200, 12 in / 1200 out tokens, cache 40000 read / 2000 written"]
    );
    let u = d.usage();
    assert_eq!(
        (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens
        ),
        (Some(12), Some(1200), Some(40000), Some(2000))
    );
    let mut d = Decoder::new(StreamFormat::Gemini);
    d.decode(r#"{"type":"result","status":"success","stats":{"total_tokens":5100,"input_tokens":5000,"output_tokens":100,"cached":4000,"input":1000}}"#);
    let u = d.usage();
    assert_eq!(
        (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cost_usd
        ),
        (Some(1000), Some(100), Some(4000), None)
    );
}
