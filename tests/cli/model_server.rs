//! A scripted model on 127.0.0.1 for real agent CLIs (std only): the Anthropic Messages API
//! for Claude Code and OpenCode (an Anthropic provider; OpenCode's own tool names), the Gemini
//! API (`streamGenerateContent`) for Gemini CLI, and the OpenAI Responses API
//! (`POST /v1/responses`) for Codex CLI.
//!
//! The "model" is a script, not a language model. For the OpenSpec change named in the
//! prompt it asks the CLI to Read the change's tasks.md, then per selected open task to Write
//! a file and Edit tasks.md to tick the box, optionally to commit through Bash, and finally
//! answers with a summary. The server keeps no conversation state: every request carries the
//! whole history, so the next step is the number of tool uses already in it. Runs are told
//! apart by the CLI's session id header (Claude Code's, OpenCode's) or Codex's prompt cache
//! key, else by a conversation's first turn; each change's n-th run follows the n-th [`Run`]
//! of its script (the last one repeats). Responses are streamed as server-sent events, the way
//! the real API does, since that is what the CLI asks for.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// What one run (one CLI invocation) of a change does.
#[derive(Clone, Debug)]
pub struct Run {
    /// Open tasks ticked in this run; `None` = all of them.
    pub tasks: Option<usize>,
    /// Finish with `git add -A && git commit` through the Bash tool.
    pub commit: bool,
    /// First Read this path (relative to the worktree, outside it), as an agent looking
    /// around might: a CLI that asks before such a read must not wait for an answer.
    pub read_outside: Option<String>,
    pub fault: Option<Fault>,
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// Accept the first request of the run and never answer it.
    Hang,
    /// Answer the first `times` requests of the run (every one: `None`) with this HTTP error.
    Error {
        status: u16,
        should_retry: Option<bool>,
        times: Option<u32>,
    },
    /// Anthropic only: answer 429 with a spend limit that resets `secs` after the first
    /// such answer (the API's `spend limit reached · resets <day>`
    /// message and `anthropic-ratelimit-unified-reset` header, not to be retried); later
    /// requests before the reset get the same answer.
    SpendLimit { secs: u64 },
    /// Answer every request of the run with HTTP 429 and the provider's "usage limit
    /// reached" error, resetting in `reset_secs` (also sent as `retry-after`).
    UsageLimit { reset_secs: u64 },
}

impl Run {
    pub fn all() -> Run {
        Run {
            tasks: None,
            commit: false,
            read_outside: None,
            fault: None,
        }
    }
    pub fn ticks(n: usize) -> Run {
        Run {
            tasks: Some(n),
            ..Run::all()
        }
    }
    pub fn committing(self) -> Run {
        Run {
            commit: true,
            ..self
        }
    }
    pub fn reading_outside(self, path: &str) -> Run {
        Run {
            read_outside: Some(path.to_owned()),
            ..self
        }
    }
    pub fn fault(fault: Fault) -> Run {
        Run {
            fault: Some(fault),
            ..Run::all()
        }
    }
}

/// One request the server answered, for the tests' assertions.
#[derive(Clone, Debug)]
pub struct Request {
    pub change: Option<String>,
    /// 1-based run of the change.
    pub run: usize,
    /// Tool uses already in the conversation.
    pub step: usize,
    /// What was answered: "Read", "Write", "Edit", "Bash", "answer", "hang", "error 529".
    pub action: String,
}

#[derive(Default)]
struct State {
    /// When the spend limit of [`Fault::SpendLimit`] resets, once it was first answered.
    spend_reset: Option<u64>,
    scripts: HashMap<String, Vec<Run>>,
    default: Vec<Run>,
    /// change → sessions in order of first sight.
    sessions: HashMap<String, Vec<String>>,
    /// (change, session) → errors answered so far.
    errors: HashMap<(String, String), u32>,
    log: Vec<Request>,
    next_id: u64,
}

pub struct ModelServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ModelServer {
    /// Starts the server; every change not given a script runs `default`.
    pub fn start(default: Vec<Run>) -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State {
            default,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (st, sp) = (st.clone(), sp.clone());
                        std::thread::spawn(move || serve(stream, &st, &sp));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ModelServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The script of one change: its n-th run follows `runs[n-1]`, the last one repeating.
    pub fn script(&self, change: &str, runs: Vec<Run>) {
        self.state().scripts.insert(change.to_owned(), runs);
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state().log.clone()
    }

    /// How many runs (CLI sessions) of `change` reached the server.
    pub fn runs(&self, change: &str) -> usize {
        self.state().sessions.get(change).map_or(0, Vec::len)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct HttpRequest {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<HttpRequest> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length").and_then(|n| n.parse().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(req) = read_request(&stream) else {
        return;
    };
    let json_type = [("Content-Type", "application/json".to_owned())];
    let route = req.path.split('?').next().unwrap_or("");
    let api = if route.ends_with("/v1/messages") {
        Api::Anthropic
    } else if route.contains(":streamGenerateContent") || route.contains(":generateContent") {
        Api::Gemini
    } else if route.ends_with("/v1/responses") {
        Api::Responses
    } else if route.ends_with("/chat/completions") {
        Api::Chat
    } else {
        let body = if route.contains("count_tokens") {
            json!({"input_tokens": 1})
        } else if route.contains(":countTokens") {
            json!({"totalTokens": 1})
        } else {
            json!({})
        };
        respond(&mut stream, 200, &json_type, body.to_string().as_bytes());
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        respond(&mut stream, 400, &json_type, b"{}");
        return;
    };
    if req.method != "POST" {
        respond(&mut stream, 200, &json_type, b"{}");
        return;
    }
    let mut conv = Conversation::new(&body, api);
    let model = body["model"]
        .as_str()
        .or_else(|| route.rsplit('/').next()?.split(':').next())
        .unwrap_or("scripted")
        .to_owned();
    let streaming = match api {
        Api::Gemini => route.contains(":streamGenerateContent"),
        Api::Chat => body["stream"] == true,
        Api::Anthropic | Api::Responses => true,
    };
    if !conv.agent_turn {
        // A side request (a title, a classification): a short plain answer.
        send_message(
            &mut stream,
            api,
            streaming,
            &model,
            &[Block::Text("OK.".into())],
            "end_turn",
        );
        return;
    }
    let change = conv.change.clone();
    let (run_no, run, error_count) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let key = change.clone().unwrap_or_default();
        let sessions = st.sessions.entry(key.clone()).or_default();
        // Claude Code and OpenCode name their session (OpenCode's own retries of a request
        // stay in its run), Codex its thread (the prompt cache key); otherwise a
        // conversation's first turn starts a run.
        let named = ["x-claude-code-session-id", "x-session-affinity"]
            .iter()
            .find_map(|h| req.headers.get(*h))
            .cloned()
            .or_else(|| body["prompt_cache_key"].as_str().map(str::to_owned));
        let session = match named {
            Some(id) => id,
            None if conv.step == 0 || sessions.is_empty() => format!("run-{}", sessions.len() + 1),
            None => sessions.last().cloned().unwrap_or_default(),
        };
        if !sessions.contains(&session) {
            sessions.push(session.clone());
        }
        let run_no = sessions.iter().position(|s| *s == session).unwrap_or(0) + 1;
        let runs = st.scripts.get(&key).unwrap_or(&st.default);
        let run = runs
            .get(run_no - 1)
            .or(runs.last())
            .cloned()
            .unwrap_or_else(Run::all);
        let count = st.errors.entry((key, session)).or_insert(0);
        let errors_so_far = *count;
        if matches!(&run.fault, Some(Fault::Error { times, .. }) if times.is_none_or(|t| errors_so_far < t))
        {
            *count += 1;
        }
        (run_no, run, errors_so_far)
    };
    let step = conv.step;
    let log = |action: String| {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.log.push(Request {
            change: change.clone(),
            run: run_no,
            step,
            action,
        });
    };
    match &run.fault {
        Some(Fault::Error {
            status,
            should_retry,
            times,
        }) if times.is_none_or(|t| error_count < t) => {
            log(format!("error {status}"));
            let (kind, message) = match status {
                529 => ("overloaded_error", "Overloaded"),
                429 => ("rate_limit_error", "Rate limited (scripted)"),
                // Gemini's answer to a key it does not know.
                400 if api == Api::Gemini => (
                    "invalid_request_error",
                    "API key not valid. Please pass a valid API key.",
                ),
                400 => ("invalid_request_error", "Bad request (scripted)"),
                401 => ("authentication_error", "invalid x-api-key"),
                404 => (
                    "not_found_error",
                    "models/scripted-unknown is not found for API version v1beta, or is not supported for generateContent.",
                ),
                _ => ("api_error", "Internal server error (scripted)"),
            };
            let mut headers = json_type.to_vec();
            if let Some(r) = should_retry {
                headers.push(("x-should-retry", r.to_string()));
            }
            // A CLI that honours it (OpenCode) retries a rate limit at once, not after its
            // backoff of 2 s doubling.
            if *status == 429 && api == Api::Anthropic {
                headers.push(("retry-after", "0".to_owned()));
            }
            let body = match api {
                Api::Anthropic => {
                    json!({"type": "error", "error": {"type": kind, "message": message}})
                }
                Api::Gemini => {
                    let code = match status {
                        400 => "INVALID_ARGUMENT",
                        401 => "UNAUTHENTICATED",
                        404 => "NOT_FOUND",
                        _ => "UNAVAILABLE",
                    };
                    json!({"error": {"code": status, "message": message, "status": code}})
                }
                Api::Responses | Api::Chat => openai_error(*status, &model),
            };
            respond(&mut stream, *status, &headers, body.to_string().as_bytes());
            return;
        }
        Some(Fault::SpendLimit { secs }) => {
            let reset = *state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .spend_reset
                .get_or_insert_with(|| epoch_secs() + secs);
            if epoch_secs() < reset {
                log("spend limit".into());
                let body = json!({"type": "error", "error": {"type": "rate_limit_error",
                    "message": format!("spend limit reached \u{b7} resets {}", month_day(reset))}});
                let headers = [
                    ("Content-Type", "application/json".to_owned()),
                    ("anthropic-ratelimit-unified-status", "rejected".to_owned()),
                    ("anthropic-ratelimit-unified-reset", reset.to_string()),
                    ("retry-after", (reset - epoch_secs()).to_string()),
                    ("x-should-retry", "false".to_owned()),
                ];
                respond(&mut stream, 429, &headers, body.to_string().as_bytes());
                return;
            }
        }
        Some(Fault::UsageLimit { reset_secs }) => {
            log("usage limit".into());
            let mut headers = json_type.to_vec();
            headers.push(("retry-after", reset_secs.to_string()));
            let body = usage_limit_error(api, *reset_secs);
            respond(&mut stream, 429, &headers, body.to_string().as_bytes());
            return;
        }
        Some(Fault::Hang) if conv.step == 0 => {
            log("hang".into());
            hang(&stream, stop);
            return;
        }
        _ => {}
    }
    let (blocks, stop_reason) = if api == Api::Chat {
        (whole_files(&mut conv, &run), "end_turn")
    } else {
        conv.next(&run)
    };
    log(match blocks.last() {
        Some(Block::Tool(name, _, _)) => name.clone(),
        _ => "answer".into(),
    });
    let blocks = with_ids(conv.dialect.tools(blocks), state);
    send_message(&mut stream, api, streaming, &model, &blocks, stop_reason);
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `Dec 2`: the day of an epoch time in UTC, as the API's spend-limit message names it.
fn month_day(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{} {day}", MONTHS[(month - 1) as usize])
}

/// Which wire format a request speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// Anthropic Messages (`POST /v1/messages`), Claude Code.
    Anthropic,
    /// Gemini `models/<model>:streamGenerateContent?alt=sse`, Gemini CLI.
    Gemini,
    /// OpenAI Responses (`POST /v1/responses`, streamed), Codex CLI.
    Responses,
    /// OpenAI Chat Completions (`POST /v1/chat/completions`), Aider: no tools, the whole
    /// script in one answer, each file written out whole (Aider's `whole` edit format).
    Chat,
}

/// Whose tools a request offers. The script is written with Claude Code's tool names and
/// input keys, which [`tool_name`] maps per API; OpenCode speaks the Anthropic API with tools
/// of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    /// The script's own names and keys (mapped per API by [`tool_name`]).
    Script,
    /// OpenCode: read / write / edit / bash, inputs `filePath`, `oldString`, `newString`.
    Opencode,
}

impl Dialect {
    /// The script's tool calls in this dialect.
    fn tools(self, blocks: Vec<Block>) -> Vec<Block> {
        if self == Dialect::Script {
            return blocks;
        }
        let key = |k: &str| match k {
            "file_path" => "filePath".to_owned(),
            "old_string" => "oldString".to_owned(),
            "new_string" => "newString".to_owned(),
            k => k.to_owned(),
        };
        blocks
            .into_iter()
            .map(|b| match b {
                Block::Tool(name, Value::Object(input), id) => Block::Tool(
                    name.to_ascii_lowercase(),
                    Value::Object(input.into_iter().map(|(k, v)| (key(&k), v)).collect()),
                    id,
                ),
                b => b,
            })
            .collect()
    }
}

/// The tool names a CLI offers for the script's Read / Write / Edit / Bash (their inputs
/// share the key names `file_path`, `content`, `old_string`, `new_string`, `command`).
fn tool_name(api: Api, generic: &str) -> &str {
    match (api, generic) {
        (Api::Anthropic, name) => name,
        (Api::Gemini, "Read") => "read_file",
        (Api::Gemini, "Write") => "write_file",
        (Api::Gemini, "Edit") => "replace",
        (Api::Gemini, "Bash") => "run_shell_command",
        (Api::Gemini, name) => name,
        (Api::Responses, "Read" | "Bash") => "exec_command",
        (Api::Responses, "Write" | "Edit") => "apply_patch",
        (Api::Responses, name) => name,
        (Api::Chat, name) => name,
    }
}

fn send_message(
    stream: &mut TcpStream,
    api: Api,
    streaming: bool,
    model: &str,
    blocks: &[Block],
    stop_reason: &str,
) {
    match api {
        Api::Anthropic => stream_message(stream, model, blocks, stop_reason),
        Api::Gemini => gemini_message(stream, streaming, model, blocks),
        Api::Responses => responses_message(stream, model, blocks),
        Api::Chat => chat_message(stream, streaming, model, blocks),
    }
}

/// One chat completion whose content is the blocks' text, as one JSON body or as SSE chunks.
fn chat_message(stream: &mut TcpStream, streaming: bool, model: &str, blocks: &[Block]) {
    let text: String = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            Block::Tool(..) => None,
        })
        .collect();
    let usage = json!({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120});
    if !streaming {
        let body = json!({"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
            "model": model, "usage": usage, "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": text}}]});
        respond(
            stream,
            200,
            &[("Content-Type", "application/json".to_owned())],
            body.to_string().as_bytes(),
        );
        return;
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let data = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk(json!({"role": "assistant", "content": text}), Value::Null),
        chunk(json!({}), json!("stop"))
    );
    respond(
        stream,
        200,
        &[("Content-Type", "text/event-stream".to_owned())],
        data.as_bytes(),
    );
}

/// The whole script of a run as one Aider answer in its `whole` edit format: each file the
/// script writes or edits, written out whole after its path, then the script's last words.
fn whole_files(conv: &mut Conversation, run: &Run) -> Vec<Block> {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut tasks = conv.tasks_text.clone().unwrap_or_default();
    let mut text = String::new();
    for step in 1.. {
        conv.step = step;
        let (blocks, stop) = conv.next(run);
        for b in blocks {
            match b {
                Block::Text(t) => text = t,
                Block::Tool(name, input, _) => {
                    let path = input["file_path"].as_str().unwrap_or("").to_owned();
                    let content = match name.as_str() {
                        "Write" => input["content"].as_str().unwrap_or("").to_owned(),
                        "Edit" => {
                            let (old, new) = (&input["old_string"], &input["new_string"]);
                            tasks = tasks.replacen(
                                old.as_str().unwrap_or(""),
                                new.as_str().unwrap_or(""),
                                1,
                            );
                            tasks.clone()
                        }
                        _ => continue,
                    };
                    files.retain(|(p, _)| *p != path);
                    files.push((path, content));
                }
            }
        }
        if stop == "end_turn" {
            break;
        }
    }
    let mut answer = String::new();
    for (path, content) in files {
        answer.push_str(&format!("{path}\n```\n{content}```\n\n"));
    }
    answer.push_str(&text);
    vec![Block::Text(answer)]
}

/// One Gemini response: a single candidate with every part, as one SSE event or one JSON body.
fn gemini_message(stream: &mut TcpStream, streaming: bool, model: &str, blocks: &[Block]) {
    let parts: Vec<Value> = blocks
        .iter()
        .map(|b| match b {
            Block::Text(text) => json!({"text": text}),
            Block::Tool(name, input, id) => {
                let mut args = input.clone();
                if name == "Edit" {
                    args["instruction"] = json!("Tick the finished task's checkbox.");
                }
                json!({"functionCall": {"name": tool_name(Api::Gemini, name), "args": args, "id": id}})
            }
        })
        .collect();
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
        "modelVersion": model,
    });
    if streaming {
        let data = format!("data: {body}\r\n\r\n");
        respond(
            stream,
            200,
            &[("Content-Type", "text/event-stream".to_owned())],
            data.as_bytes(),
        );
    } else {
        respond(
            stream,
            200,
            &[("Content-Type", "application/json".to_owned())],
            body.to_string().as_bytes(),
        );
    }
}

/// An OpenAI error body for an HTTP status, worded the way api.openai.com words it.
fn openai_error(status: u16, model: &str) -> Value {
    let (kind, code, message) = match status {
        401 => (
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided: dummy-ke*****************cret. You can find your API key at https://platform.openai.com/account/api-keys.".to_owned(),
        ),
        404 => (
            "invalid_request_error",
            "model_not_found",
            format!("The model `{model}` does not exist or you do not have access to it."),
        ),
        429 => (
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached for requests (scripted). Please try again in 1s.".to_owned(),
        ),
        _ => (
            "server_error",
            "server_error",
            "The server had an error while processing your request (scripted).".to_owned(),
        ),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// A usage limit that resets in `reset_secs`, as each API reports it: for the Responses API
/// the ChatGPT backend's `usage_limit_reached` error (what Codex reads a reset time from).
fn usage_limit_error(api: Api, reset_secs: u64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match api {
        Api::Responses | Api::Chat => json!({"error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": "plus",
            "resets_at": now + reset_secs,
            "resets_in_seconds": reset_secs,
        }}),
        Api::Anthropic => json!({"type": "error", "error": {"type": "rate_limit_error",
            "message": "Usage limit reached (scripted)"}}),
        Api::Gemini => json!({"error": {"code": 429, "message": "Quota exceeded (scripted)",
            "status": "RESOURCE_EXHAUSTED"}}),
    }
}

/// One Responses API output item for a block: an assistant message, an `exec_command`
/// function call (Read, Bash) or an `apply_patch` freeform call (Write, Edit). `done` false
/// gives the item as `response.output_item.added` announces it, before its content.
fn responses_item(block: &Block, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    match block {
        Block::Text(text) => {
            let content = if done {
                json!([{"type": "output_text", "text": text, "annotations": []}])
            } else {
                json!([])
            };
            json!({"type": "message", "id": format!("msg_{:x}", text.len()), "role": "assistant",
                   "status": status, "content": content})
        }
        Block::Tool(name, input, id) => {
            let str_of = |key: &str| input[key].as_str().unwrap_or("").to_owned();
            let call = |kind: &str, field: &str, value: String| {
                let value = if done { value } else { String::new() };
                json!({"type": kind, "id": format!("fc_{id}"), "call_id": id, "status": status,
                       "name": tool_name(Api::Responses, name), field: value})
            };
            match name.as_str() {
                "Read" => call(
                    "function_call",
                    "arguments",
                    json!({"cmd": format!("cat {}", str_of("file_path"))}).to_string(),
                ),
                "Bash" => call(
                    "function_call",
                    "arguments",
                    json!({"cmd": str_of("command")}).to_string(),
                ),
                "Write" => {
                    let lines: String = str_of("content")
                        .lines()
                        .map(|l| format!("+{l}\n"))
                        .collect();
                    let path = str_of("file_path");
                    let patch =
                        format!("*** Begin Patch\n*** Add File: {path}\n{lines}*** End Patch\n");
                    call("custom_tool_call", "input", patch)
                }
                "Edit" => {
                    let (path, old, new) = (
                        str_of("file_path"),
                        str_of("old_string"),
                        str_of("new_string"),
                    );
                    let patch = format!(
                        "*** Begin Patch\n*** Update File: {path}\n@@\n-{old}\n+{new}\n*** End Patch\n"
                    );
                    call("custom_tool_call", "input", patch)
                }
                _ => call("function_call", "arguments", input.to_string()),
            }
        }
    }
}

/// The SSE events of one Responses API answer: response.created, each item added (text
/// streamed as one delta) and done, then response.completed with the usage.
fn responses_message(stream: &mut TcpStream, model: &str, blocks: &[Block]) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let mut out = String::from(head);
    let mut ev = |data: Value| {
        let kind = data["type"].as_str().unwrap_or("").to_owned();
        out.push_str(&format!("event: {kind}\ndata: {data}\n\n"));
    };
    let response = |status: &str| json!({"id": "resp_scripted", "object": "response", "model": model, "status": status});
    ev(json!({"type": "response.created", "response": response("in_progress")}));
    for (i, b) in blocks.iter().enumerate() {
        let item = responses_item(b, false);
        ev(json!({"type": "response.output_item.added", "output_index": i, "item": item}));
        if let Block::Text(text) = b {
            ev(
                json!({"type": "response.output_text.delta", "item_id": item["id"],
                      "output_index": i, "content_index": 0, "delta": text}),
            );
        }
        ev(
            json!({"type": "response.output_item.done", "output_index": i,
                  "item": responses_item(b, true)}),
        );
    }
    let mut done = response("completed");
    done["usage"] = json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 120});
    ev(json!({"type": "response.completed", "response": done}));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

/// Holds the request open without a byte of answer until the client hangs up or the server
/// stops.
fn hang(stream: &TcpStream, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 1];
    while !stop.load(Ordering::SeqCst) {
        match stream.peek(&mut buf) {
            Ok(0) => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

#[derive(Clone, Debug)]
enum Block {
    Text(String),
    /// name, input, id (given when the message is sent).
    Tool(String, Value, String),
}

fn with_ids(mut blocks: Vec<Block>, state: &Mutex<State>) -> Vec<Block> {
    for b in &mut blocks {
        if let Block::Tool(_, _, id) = b {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            st.next_id += 1;
            *id = format!("toolu_scripted{:012}", st.next_id);
        }
    }
    blocks
}

/// The SSE events of one assistant message: message_start, a start/delta/stop per block,
/// message_delta with the stop reason, message_stop.
fn stream_message(stream: &mut TcpStream, model: &str, blocks: &[Block], stop_reason: &str) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let mut out = String::from(head);
    let mut ev = |kind: &str, data: Value| {
        out.push_str(&format!("event: {kind}\ndata: {data}\n\n"));
    };
    // Every figure a billed message has, cache reads and writes included, so that the CLI's
    // result event reports each (test_claude's budget test reads them).
    let usage = json!({"input_tokens": 100, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 50, "output_tokens": 1});
    ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_scripted", "type": "message",
            "role": "assistant", "model": model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": usage}}),
    );
    for (i, b) in blocks.iter().enumerate() {
        match b {
            Block::Text(text) => {
                ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
                );
                ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": text}}),
                );
            }
            Block::Tool(name, input, id) => {
                ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                );
                ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
                );
            }
        }
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        );
    }
    ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 20}}),
    );
    ev("message_stop", json!({"type": "message_stop"}));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

/// What the request says about the run: the change, how far it got, what tasks.md held.
struct Conversation {
    /// The CLI offers its file tools: this is the agent's own turn, not a side request.
    agent_turn: bool,
    dialect: Dialect,
    change: Option<String>,
    step: usize,
    /// tasks.md as the first Read returned it.
    tasks_text: Option<String>,
}

impl Conversation {
    fn new(body: &Value, api: Api) -> Conversation {
        match api {
            Api::Anthropic => Conversation::anthropic(body),
            Api::Gemini => Conversation::gemini(body),
            Api::Responses => Conversation::responses(body),
            Api::Chat => Conversation::chat(body),
        }
    }

    /// Aider's chat: its last user message is the prompt. Aider shows no file unless asked
    /// to, so tasks.md is taken to be what `TestEnv::add_change` writes ("## 1. Work" and the
    /// tasks), its tasks the open ones the prompt lists (`- [ ] 1.1 Text (line 2)`): a first
    /// run of a change.
    fn chat(body: &Value) -> Conversation {
        let prompt = body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .rfind(|m| m["role"] == "user")
            .map(|m| text_of(&m["content"]))
            .unwrap_or_default();
        let tasks: String = prompt
            .lines()
            .filter(|l| l.starts_with("- [ ] "))
            .map(|l| l.rsplit_once(" (line ").map_or(l, |(task, _)| task))
            .map(|l| format!("{l}\n"))
            .collect();
        let change = find_change(&prompt);
        Conversation {
            agent_turn: change.is_some(),
            dialect: Dialect::Script,
            change,
            step: 0,
            tasks_text: Some(format!("## 1. Work\n{tasks}")),
        }
    }

    /// Gemini `contents`: `model` turns with `functionCall` parts, `user` turns with text and
    /// `functionResponse` parts (read_file answers with the file's plain text).
    fn gemini(body: &Value) -> Conversation {
        let tools: Vec<&str> = body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
            .filter_map(|d| d["name"].as_str())
            .collect();
        let mut user_text = String::new();
        let mut uses: Vec<(String, String)> = Vec::new();
        let mut results: HashMap<String, String> = HashMap::new();
        for turn in body["contents"].as_array().into_iter().flatten() {
            for part in turn["parts"].as_array().into_iter().flatten() {
                if let Some(text) = part["text"].as_str() {
                    if turn["role"] == "user" {
                        user_text.push_str(text);
                    }
                } else if let Some(call) = part.get("functionCall") {
                    uses.push((
                        call["id"].as_str().unwrap_or("").to_owned(),
                        call["name"].as_str().unwrap_or("").to_owned(),
                    ));
                } else if let Some(resp) = part.get("functionResponse") {
                    let output = &resp["response"]["output"];
                    results.insert(
                        resp["id"].as_str().unwrap_or("").to_owned(),
                        output
                            .as_str()
                            .map_or_else(|| output.to_string(), str::to_owned),
                    );
                }
            }
        }
        let tasks_text = uses
            .first()
            .filter(|(_, name)| name == "read_file")
            .and_then(|(id, _)| results.get(id))
            .cloned();
        Conversation {
            agent_turn: tools.contains(&"read_file") && tools.contains(&"replace"),
            dialect: Dialect::Script,
            change: find_change(&user_text),
            step: uses.len(),
            tasks_text,
        }
    }

    /// Responses API `input`: user messages, the model's `function_call` /
    /// `custom_tool_call` items and their `*_output` items (exec_command answers with a
    /// short header, then the command's output; checkbox lines are all the script reads).
    fn responses(body: &Value) -> Conversation {
        let tools: Vec<&str> = body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let mut user_text = String::new();
        let mut uses: Vec<(String, String)> = Vec::new();
        let mut results: HashMap<String, String> = HashMap::new();
        for item in body["input"].as_array().into_iter().flatten() {
            let call_id = item["call_id"].as_str().unwrap_or("").to_owned();
            match item["type"].as_str() {
                Some("message") if item["role"] == "user" => {
                    user_text.push_str(&text_of(&item["content"]));
                }
                Some("function_call" | "custom_tool_call") => {
                    uses.push((call_id, item["name"].as_str().unwrap_or("").to_owned()));
                }
                Some("function_call_output" | "custom_tool_call_output") => {
                    let output = text_of(&item["output"]).replace('\r', "");
                    results.insert(call_id, output);
                }
                _ => {}
            }
        }
        let tasks_text = uses
            .first()
            .filter(|(_, name)| name == "exec_command")
            .and_then(|(id, _)| results.get(id))
            .cloned();
        Conversation {
            agent_turn: tools.contains(&"exec_command") && tools.contains(&"apply_patch"),
            dialect: Dialect::Script,
            change: find_change(&user_text),
            step: uses.len(),
            tasks_text,
        }
    }

    fn anthropic(body: &Value) -> Conversation {
        let tools: Vec<&str> = body["tools"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
            .unwrap_or_default();
        let dialect = if tools.contains(&"read") && tools.contains(&"edit") {
            Dialect::Opencode
        } else {
            Dialect::Script
        };
        let agent_turn =
            dialect == Dialect::Opencode || (tools.contains(&"Read") && tools.contains(&"Edit"));
        let mut user_text = String::new();
        let mut uses: Vec<(String, String)> = Vec::new();
        let mut results: HashMap<String, String> = HashMap::new();
        for m in body["messages"].as_array().into_iter().flatten() {
            let content = &m["content"];
            match m["role"].as_str() {
                Some("assistant") => {
                    for b in content.as_array().into_iter().flatten() {
                        if b["type"] == "tool_use" {
                            uses.push((
                                b["id"].as_str().unwrap_or("").to_owned(),
                                b["name"].as_str().unwrap_or("").to_owned(),
                            ));
                        }
                    }
                }
                Some("user") => {
                    if let Some(s) = content.as_str() {
                        user_text.push_str(s);
                    }
                    for b in content.as_array().into_iter().flatten() {
                        match b["type"].as_str() {
                            Some("text") => user_text.push_str(b["text"].as_str().unwrap_or("")),
                            Some("tool_result") => {
                                results.insert(
                                    b["tool_use_id"].as_str().unwrap_or("").to_owned(),
                                    text_of(&b["content"]),
                                );
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let tasks_text = uses
            .first()
            .filter(|(_, name)| name.eq_ignore_ascii_case("Read"))
            .and_then(|(id, _)| results.get(id))
            .map(|r| strip_line_numbers(r));
        Conversation {
            agent_turn,
            dialect,
            change: find_change(&user_text),
            step: uses.len(),
            tasks_text,
        }
    }

    /// The next assistant message of `run`'s script.
    fn next(&self, run: &Run) -> (Vec<Block>, &'static str) {
        let Some(change) = &self.change else {
            return (
                vec![Block::Text(
                    "I found no openspec/changes/<id> in the prompt.".into(),
                )],
                "end_turn",
            );
        };
        let tasks_path = format!("openspec/changes/{change}/tasks.md");
        if self.step == 0 {
            return (
                vec![
                    Block::Text(format!("I'll read the task list of change {change}.")),
                    Block::Tool(
                        "Read".into(),
                        json!({"file_path": tasks_path}),
                        String::new(),
                    ),
                ],
                "tool_use",
            );
        }
        let tasks = self.tasks_text.clone().unwrap_or_default();
        // (number among all checkboxes, line) of each open task.
        let open: Vec<(usize, &str)> = tasks
            .lines()
            .filter(|l| l.trim_start().starts_with("- ["))
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("- [ ]"))
            .map(|(i, l)| (i + 1, l))
            .collect();
        let selected = &open[..run.tasks.unwrap_or(open.len()).min(open.len())];
        let mut calls = Vec::new();
        if let Some(path) = &run.read_outside {
            calls.push((
                format!("Looking at {path} outside the worktree."),
                "Read",
                json!({"file_path": path}),
            ));
        }
        for (n, line) in selected {
            let text = line.trim_start().trim_start_matches("- [ ]").trim();
            calls.push((
                format!("Writing the result of task \"{text}\"."),
                "Write",
                json!({"file_path": format!("claude-work/{change}/task-{n}.txt"),
                       "content": format!("{change}: {text}\n")}),
            ));
            calls.push((
                format!("Ticking \"{text}\" in tasks.md."),
                "Edit",
                json!({"file_path": tasks_path, "old_string": line, "new_string": line.replacen("- [ ]", "- [x]", 1)}),
            ));
        }
        if run.commit && !selected.is_empty() {
            calls.push((
                "Committing the work.".into(),
                "Bash",
                json!({"command": format!("git add -A && git commit -q -m 'claude: {change}'"),
                       "description": "Commit the change's work"}),
            ));
        }
        if let Some((say, tool, input)) = calls.get(self.step - 1) {
            return (
                vec![
                    Block::Text(say.clone()),
                    Block::Tool((*tool).to_owned(), input.clone(), String::new()),
                ],
                "tool_use",
            );
        }
        let answer = if selected.is_empty() {
            format!(
                "I did not complete any task of change {change}; {} remain open.",
                open.len()
            )
        } else {
            format!(
                "Completed {} task(s) of change {change}; {} remain open.",
                selected.len(),
                open.len() - selected.len()
            )
        };
        (vec![Block::Text(answer)], "end_turn")
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The CLI's Read result (`1\tline`, `     1→line`, OpenCode's `1: line` inside `<content>`)
/// back to the file's text.
fn strip_line_numbers(read: &str) -> String {
    read.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let digits = l.len() - l.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return None;
            }
            let rest = &l[digits..];
            rest.strip_prefix('\t')
                .or_else(|| rest.strip_prefix('→'))
                .or_else(|| rest.strip_prefix(": "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The id after the first `openspec/changes/` in the prompt.
fn find_change(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find("openspec/changes/") {
        rest = &rest[i + "openspec/changes/".len()..];
        let id: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        let id = id.trim_end_matches('.').to_owned();
        if !id.is_empty() && id != "archive" {
            return Some(id);
        }
    }
    None
}
