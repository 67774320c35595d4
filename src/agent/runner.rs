//! One supervised agent run: stagger, spawn, stream, retries, timeouts, cancel, cleanup.
//!
//! [`run`] owns the agent from start to end. Each attempt is one spawn ([`spawn`]) and one
//! `select!` loop ([`supervise`]) over the child's exit, its output, its stdin, the timers and
//! the cancel request; whatever ends the loop, the tree is ended by the one
//! [`group::terminate`]. Between attempts [`run`] decides whether to retry. News goes out as
//! [`AgentEvent`]s through the caller's callback; nothing here prints.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::pin::pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::group::{self, ProcessTree};
use super::presets::Invocation;
use super::refusal::{self, Refusal, UsageLimit};
use super::shell;
use super::stream::{Decoder, StreamFormat, Usage};

/// Longest line an event carries; the rest of a longer line is dropped (and counted).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// How much output [`RunOutcome::output_tail`] keeps.
const TAIL_BYTES: usize = 4 * 1024;
/// How long pipes may stay open after the agent exited before their holders count as leaked.
const LEAK_WAIT: Duration = Duration::from_millis(100);
/// Longest [`RunOutcome::last_error`], in terminal columns.
const MAX_ERROR_COLUMNS: usize = 500;
/// Read buffer per output stream. Lines longer than this are assembled across reads; a
/// bigger buffer, zeroed anew for each of 16 agents' two pipes, was 2 MB of resident memory
/// for output that comes a line at a time.
const READ_CHUNK: usize = 8 * 1024;

/// Everything one agent run needs.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub invocation: Invocation,
    /// The worktree.
    pub cwd: PathBuf,
    /// Added to the orchestrator's environment (after the invocation's own variables).
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    pub retry: RetryPolicy,
    /// The run owns `cwd` (a change's worktree): whatever still runs there when it ends,
    /// escaped from its process tree or not, is ended with it.
    pub owns_cwd: bool,
    /// The sandbox the command runs in; `None` runs it as the user.
    pub wrap: Option<Wrap>,
}

/// A sandbox's command line, run with `sh -c <command>` appended. The sandbox owns the
/// lifetime of what runs inside (a PID namespace, a container), so no `/proc` sweep looks
/// for escapees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wrap {
    pub argv: Vec<std::ffi::OsString>,
    /// SIGTERM goes to the processes inside, not to the wrapper's own two (bubblewrap and
    /// its init in the namespace): a SIGTERM that ended bubblewrap would SIGKILL everything
    /// inside at once, and the agent would lose its grace. SIGKILL still goes to the group.
    pub term_inside: bool,
}

/// Time limits of one run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// No output byte for this long ends the attempt.
    pub inactivity_timeout: Option<Duration>,
    /// Overall limit for the whole run, retries included; never retried.
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            inactivity_timeout: Some(Duration::from_secs(15 * 60)),
            timeout: None,
            kill_grace: Duration::from_secs(10),
        }
    }
}

/// When a failed attempt is tried again.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after failures (not counting timeouts).
    pub max: u32,
    /// First delay; doubled after each retry, up to `max_delay`.
    pub delay: Duration,
    pub max_delay: Duration,
    /// A non-zero exit whose decoded output contains one of these (ASCII case-insensitive, not
    /// inside a longer run of letters and digits: "529" is not found in port 35291) is retried.
    pub patterns: Vec<String>,
    /// A non-zero exit sooner than this is retried (except 126/127: not executable/not found).
    pub min_runtime: Duration,
    /// Retries after inactivity timeouts, a separate budget.
    pub timeout_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max: 3,
            delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(5 * 60),
            patterns: [
                "rate limit",
                "rate_limit",
                "overloaded",
                "429",
                "529",
                "ECONNRESET",
            ]
            .map(String::from)
            .to_vec(),
            min_runtime: Duration::ZERO,
            timeout_retries: 1,
        }
    }
}

impl RetryPolicy {
    /// Run once: no retries at all (our own commands: setup, verify, archive, hooks).
    pub fn none() -> Self {
        RetryPolicy {
            max: 0,
            timeout_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Delay before retry number `n` (1-based): `delay * 2^(n-1)`, capped at `max_delay`.
    fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Keeps consecutive agent starts at least `gap` apart, across every run that shares it.
#[derive(Clone, Debug)]
pub struct Stagger {
    gap: Duration,
    last: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl Stagger {
    /// `gap` zero disables staggering.
    pub fn new(gap: Duration) -> Self {
        Stagger {
            gap,
            last: Arc::default(),
        }
    }

    /// Waits for this start's turn; false if cancelled first. The lock is held while
    /// waiting, so starts queue in order.
    async fn wait(&self, cancel: &CancellationToken) -> bool {
        if self.gap.is_zero() {
            return true;
        }
        let mut last = tokio::select! {
            l = self.last.lock() => l,
            _ = cancel.cancelled() => return false,
        };
        if let Some(t) = *last {
            tokio::select! {
                _ = sleep_until(t + self.gap) => {}
                _ = cancel.cancelled() => return false,
            }
        }
        *last = Some(Instant::now());
        true
    }
}

/// A stop request for runs: [`Cancel::cancel`] ends agents gracefully (SIGTERM, grace,
/// SIGKILL), [`Cancel::kill_now`] skips the grace (the second Ctrl-C).
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    graceful: CancellationToken,
    kill: CancellationToken,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cancel that follows this one and can also be cancelled alone (one change's stop).
    pub fn child(&self) -> Cancel {
        Cancel {
            graceful: self.graceful.child_token(),
            kill: self.kill.child_token(),
        }
    }

    pub fn cancel(&self) {
        self.graceful.cancel();
    }

    pub fn kill_now(&self) {
        self.graceful.cancel();
        self.kill.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.graceful.is_cancelled()
    }

    /// Resolves once a stop was asked for.
    pub async fn cancelled(&self) {
        self.graceful.cancelled().await;
    }
}

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a run reports while it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentEvent {
    /// Attempt `attempt` (1-based) started as process (and process group) `pid`.
    Spawned { attempt: u32, pid: u32 },
    /// One decoded line.
    Line { stream: Stream, text: String },
    /// The usage so far, all attempts added up.
    Usage(Usage),
    /// Retry `attempt` of `max` starts after `delay` ("retry 1/3: rate limited").
    Retrying {
        attempt: u32,
        max: u32,
        reason: String,
        delay: Duration,
    },
    /// No output for `after`; the attempt is being ended.
    InactivityTimeout { after: Duration },
    /// The attempt's process ended. `leaked`: processes of its tree outlived it and were ended.
    Exited {
        attempt: u32,
        code: Option<i32>,
        signal: Option<i32>,
        leaked: bool,
        /// `pid N (command)` of each process that had left the agent's process group
        /// (`setsid`, a double fork) and was ended with it.
        escaped: Vec<String>,
    },
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum RunResult {
    Success,
    Failed {
        reason: String,
    },
    /// Printed nothing for `after` (the inactivity timeout), also after its retries.
    Inactive {
        after: Duration,
    },
    /// Ran longer than the overall timeout `after`; never retried.
    TimedOut {
        after: Duration,
    },
    Cancelled,
    /// The CLI refused in words no retry cures (a bad key, a login, an unknown model);
    /// never retried.
    Refused(Refusal),
    /// The CLI reported a usage limit and when it resets; not retried: the caller waits.
    UsageLimit(UsageLimit),
}

#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub result: RunResult,
    pub attempts: u32,
    pub duration: Duration,
    /// All attempts added up.
    pub usage: Usage,
    /// The last few KiB of decoded output, for error messages.
    pub output_tail: String,
    /// The last attempt's own error line: what its stream decoder reported as an error,
    /// else its last non-empty stderr line.
    pub last_error: Option<String>,
}

impl RunOutcome {
    /// A run that could not start: `reason` says why.
    pub fn failed(reason: String) -> Self {
        RunOutcome {
            result: RunResult::Failed { reason },
            attempts: 0,
            duration: Duration::ZERO,
            usage: Usage::default(),
            output_tail: String::new(),
            last_error: None,
        }
    }

    /// How the run ended, as the rest of a sentence whose subject is the process ("the agent
    /// failed: agent exited with code 1: Invalid API key"); `timeout_key` names the setting
    /// that bounded the whole run (`timeout`, `hooks_timeout`).
    pub fn describe(&self, timeout_key: &str) -> String {
        match &self.result {
            RunResult::Success => "succeeded".to_owned(),
            RunResult::Failed { reason } => match &self.last_error {
                Some(error) if !reason.contains(error.as_str()) => {
                    format!("failed: {reason}: {error}")
                }
                _ => format!("failed: {reason}"),
            },
            RunResult::Inactive { after } => format!(
                "printed nothing for {} (inactivity_timeout){}",
                humantime::format_duration(*after),
                if self.attempts > 1 {
                    ", also after retries"
                } else {
                    ""
                }
            ),
            RunResult::TimedOut { after } => format!(
                "ran longer than the timeout of {} ({timeout_key})",
                humantime::format_duration(*after)
            ),
            RunResult::Cancelled => "was cancelled".to_owned(),
            RunResult::Refused(refusal) => refusal.to_string(),
            RunResult::UsageLimit(limit) => format!("hit a usage limit: {}", limit.words),
        }
    }
}

/// Why one attempt's loop ended.
enum End {
    Exited { retry_match: Option<String> },
    Inactive(Duration),
    TimedOut(Duration),
    Cancelled,
}

/// Runs the agent until it succeeds, fails for good, times out or is cancelled. Every
/// process it started has ended when this returns, and also when its future is dropped.
pub async fn run(
    req: RunRequest,
    stagger: &Stagger,
    cancel: &Cancel,
    on_event: &mut (dyn FnMut(AgentEvent) + Send),
) -> RunOutcome {
    let started = Instant::now();
    let deadline = req.limits.timeout.map(|t| started + t);
    let mut out = Output::new(on_event, &req.retry.patterns);
    let (mut retries, mut timeout_retries, mut attempt) = (0, 0, 0);
    let result = loop {
        attempt += 1;
        if let (Some(d), Some(after)) = (deadline, req.limits.timeout)
            && Instant::now() >= d
        {
            break RunResult::TimedOut { after };
        }
        if !stagger.wait(&cancel.graceful).await {
            break RunResult::Cancelled;
        }
        let attempt_start = Instant::now();
        let (end, status) = match attempt_once(&req, attempt, deadline, cancel, &mut out).await {
            Ok(done) => done,
            Err(reason) => break RunResult::Failed { reason },
        };
        let ran = attempt_start.elapsed();
        let (reason, budget, used, give_up) = match end {
            End::Cancelled => break RunResult::Cancelled,
            End::TimedOut(after) => break RunResult::TimedOut { after },
            End::Exited { .. } if status.is_some_and(|s| s.success()) => break RunResult::Success,
            // The CLI's own words say no retry helps now.
            End::Exited { .. } if let Some(result) = out.refused_or_limited() => break result,
            End::Inactive(after) => (
                Some(format!("no output for {}s", after.as_secs())),
                req.retry.timeout_retries,
                &mut timeout_retries,
                RunResult::Inactive { after },
            ),
            End::Exited { retry_match } => (
                retry_reason(status, retry_match, ran, req.retry.min_runtime),
                req.retry.max,
                &mut retries,
                RunResult::Failed {
                    reason: describe(status),
                },
            ),
        };
        let Some(reason) = reason else {
            break give_up;
        };
        if *used >= budget {
            break match give_up {
                RunResult::Failed { .. } if *used > 0 => RunResult::Failed {
                    reason: format!("{reason}; gave up after {used} retries"),
                },
                RunResult::Failed { .. } => RunResult::Failed { reason },
                other => other,
            };
        }
        *used += 1;
        let delay = req.retry.backoff(*used);
        (out.on_event)(AgentEvent::Retrying {
            attempt: *used,
            max: budget,
            reason,
            delay,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.graceful.cancelled() => break RunResult::Cancelled,
        }
    };
    RunOutcome {
        result,
        attempts: attempt,
        duration: started.elapsed(),
        usage: out.total.clone(),
        output_tail: out.tail.text(),
        last_error: out.last_error(),
    }
}

/// Why a failed exit deserves a retry, if it does.
fn retry_reason(
    status: Option<ExitStatus>,
    retry_match: Option<String>,
    ran: Duration,
    min_runtime: Duration,
) -> Option<String> {
    let exit = describe(status);
    if let Some(pattern) = retry_match {
        return Some(format!("{exit}, output matched \"{pattern}\""));
    }
    let not_runnable = status
        .and_then(|s| s.code())
        .is_some_and(|c| c == 126 || c == 127);
    (ran < min_runtime && !not_runnable).then(|| {
        format!(
            "{exit} after {:.1}s, sooner than the minimum run time {}s",
            ran.as_secs_f64(),
            min_runtime.as_secs_f64()
        )
    })
}

fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) if s.code().is_some() => {
            format!("agent exited with code {}", s.code().unwrap_or(-1))
        }
        Some(s) => format!("agent killed by signal {}", s.signal().unwrap_or(0)),
        None => "agent exit status unknown".to_owned(),
    }
}

/// Starts the agent: `sh -c` in its own process group, in the worktree, inside its
/// sandbox when it has one; a simple command replaces the shell (see
/// [`shell::exec_in_place`]).
fn spawn(req: &RunRequest) -> std::io::Result<Child> {
    let inv = &req.invocation;
    let mut command = match req.wrap.as_ref().and_then(|w| w.argv.split_first()) {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg("sh");
            c
        }
        None => Command::new("sh"),
    };
    command
        .arg("-c")
        .arg(shell::exec_in_place(&inv.command).as_ref())
        .current_dir(&req.cwd)
        .envs(inv.env.iter().chain(&req.env).map(|(k, v)| (k, v)))
        .stdin(if inv.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command.spawn()
}

/// One attempt: spawn, supervise, end the tree, report the exit.
async fn attempt_once(
    req: &RunRequest,
    attempt: u32,
    deadline: Option<Instant>,
    cancel: &Cancel,
    out: &mut Output<'_>,
) -> Result<(End, Option<ExitStatus>), String> {
    let mut child = spawn(req).map_err(|e| {
        let sandbox = req
            .wrap
            .as_ref()
            .and_then(|w| w.argv.first())
            .map_or(String::new(), |p| {
                format!(" in the sandbox `{}`", p.to_string_lossy())
            });
        format!(
            "cannot start the agent (`sh -c {}` in {}{sandbox}): {e}",
            req.invocation.command,
            req.cwd.display()
        )
    })?;
    let pid = child.id().unwrap_or(0);
    let mut tree = {
        use std::os::fd::AsFd;
        let pipes: Vec<&dyn AsFd> = [
            child.stdout.as_ref().map(|p| p as &dyn AsFd),
            child.stderr.as_ref().map(|p| p as &dyn AsFd),
        ]
        .into_iter()
        .flatten()
        .collect();
        // A sandbox ends what runs inside it; only a run as the user sweeps its directory.
        let confine = (req.owns_cwd && req.wrap.is_none()).then_some(req.cwd.as_path());
        let tree = ProcessTree::new(pid, &pipes, confine);
        if req.wrap.as_ref().is_some_and(|w| w.term_inside) {
            tree.term_inside()
        } else {
            tree
        }
    };
    (out.on_event)(AgentEvent::Spawned { attempt, pid });
    out.start_attempt(Decoder::new(req.invocation.format).relative_to(&req.cwd));
    let mut pipes = Pipes {
        stdout: Reader::new(child.stdout.take(), Stream::Stdout),
        stderr: Reader::new(child.stderr.take(), Stream::Stderr),
    };
    let (end, exited, pipes_open) = supervise(
        &mut child, &mut tree, &mut pipes, req, deadline, cancel, out,
    )
    .await;
    let mut status = exited;
    let mut leaked = false;
    let mut escaped = Vec::new();
    if exited.is_some() {
        tree.scan_confined();
    }
    if exited.is_none() || pipes_open || tree.alive() {
        leaked = exited.is_some();
        tree.scan();
        tree.scan_pipe_holders();
        tree.scan_confined();
        escaped = tree.escaped();
        // The pipes are read to the end meanwhile: an agent saving its work in its grace
        // period may print, and a closed pipe would kill it with SIGPIPE.
        let terminate =
            group::terminate(&mut child, &mut tree, req.limits.kill_grace, &cancel.kill);
        let t = tokio::select! {
            t = terminate => t,
            never = pipes.drain(out) => match never {},
        };
        status = status.or(t.status);
        leaked |= t.stuck;
    } else {
        group::finished(&mut tree);
    }
    out.end_attempt();
    use std::os::unix::process::ExitStatusExt;
    (out.on_event)(AgentEvent::Exited {
        attempt,
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        leaked,
        escaped,
    });
    Ok((end, status))
}

/// The one loop that watches a running agent. Returns why it stopped, the exit status if the
/// agent exited by itself, and whether its output pipes were still open.
async fn supervise(
    child: &mut Child,
    tree: &mut ProcessTree,
    pipes: &mut Pipes,
    req: &RunRequest,
    deadline: Option<Instant>,
    cancel: &Cancel,
    out: &mut Output<'_>,
) -> (End, Option<ExitStatus>, bool) {
    let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let Pipes { stdout, stderr } = pipes;
    let input = req.invocation.stdin.as_deref().unwrap_or_default();
    let mut stdin = child.stdin.take().filter(|_| !input.is_empty());
    let mut written = 0;
    let inactivity = req.limits.inactivity_timeout;
    let mut last_output = Instant::now();
    let mut idle = pin!(sleep_until(inactivity.map_or(far, |t| last_output + t)));
    let mut scan = tokio::time::interval_at(Instant::now() + group::SCAN_EVERY, group::SCAN_EVERY);
    let mut exited: Option<ExitStatus> = None;
    let mut leak_wait = pin!(sleep_until(far));
    loop {
        let open = stdout.open() || stderr.open();
        if exited.is_some() && !open {
            return (
                End::Exited {
                    retry_match: out.matched.take(),
                },
                exited,
                false,
            );
        }
        tokio::select! {
            r = stdout.read() => match r {
                Some(n) => { last_output = Instant::now(); stdout.lines(n, out) }
                None => stdout.finish(out),
            },
            r = stderr.read() => match r {
                Some(n) => { last_output = Instant::now(); stderr.lines(n, out) }
                None => stderr.finish(out),
            },
            r = write_some(&mut stdin, &input[written..]) => match r {
                Ok(n) if written + n < input.len() => written += n,
                // Done, or the agent closed stdin: either way stdin is closed now.
                _ => stdin = None,
            },
            s = child.wait(), if exited.is_none() => {
                exited = s.ok();
                leak_wait.as_mut().reset(Instant::now() + LEAK_WAIT);
            }
            _ = &mut leak_wait, if exited.is_some() => {
                // Something holds the pipes open after the agent exited.
                return (End::Exited { retry_match: out.matched.take() }, exited, true);
            }
            _ = &mut idle, if inactivity.is_some() && exited.is_none() => {
                let after = inactivity.unwrap_or_default();
                if last_output.elapsed() >= after {
                    (out.on_event)(AgentEvent::InactivityTimeout { after });
                    return (End::Inactive(after), None, open);
                }
                idle.as_mut().reset(last_output + after);
            }
            _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                return (End::TimedOut(req.limits.timeout.unwrap_or_default()), None, open);
            }
            _ = cancel.graceful.cancelled() => return (End::Cancelled, None, open),
            _ = scan.tick(), if req.wrap.is_none() => tree.scan_periodic(),
        }
    }
}

async fn write_some<W: AsyncWrite + Unpin>(
    w: &mut Option<W>,
    data: &[u8],
) -> std::io::Result<usize> {
    match w {
        Some(w) => w.write(data).await,
        None => std::future::pending().await,
    }
}

/// The agent's stdout and stderr.
struct Pipes {
    stdout: Reader<tokio::process::ChildStdout>,
    stderr: Reader<tokio::process::ChildStderr>,
}

impl Pipes {
    /// Reads both pipes to their end, passing lines on; then waits for ever.
    async fn drain(&mut self, out: &mut Output<'_>) -> std::convert::Infallible {
        loop {
            tokio::select! {
                r = self.stdout.read() => match r {
                    Some(n) => self.stdout.lines(n, out),
                    None => self.stdout.finish(out),
                },
                r = self.stderr.read() => match r {
                    Some(n) => self.stderr.lines(n, out),
                    None => self.stderr.finish(out),
                },
            }
        }
    }
}

/// One output pipe, split into lines of at most [`MAX_LINE_BYTES`] in bounded memory.
struct Reader<R> {
    pipe: Option<R>,
    buf: Box<[u8]>,
    line: LineBuf,
}

/// The line being assembled.
struct LineBuf {
    stream: Stream,
    bytes: Vec<u8>,
    /// Bytes of this line dropped past the cap.
    dropped: u64,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(pipe: Option<R>, stream: Stream) -> Self {
        Reader {
            pipe,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            line: LineBuf {
                stream,
                bytes: Vec::new(),
                dropped: 0,
            },
        }
    }

    fn open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Some(bytes read), or None at end of file or error; pending forever once closed.
    async fn read(&mut self) -> Option<usize> {
        match &mut self.pipe {
            Some(p) => match p.read(&mut self.buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(n),
            },
            None => std::future::pending().await,
        }
    }

    fn lines(&mut self, n: usize, out: &mut Output<'_>) {
        let mut data = &self.buf[..n];
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            self.line.append(&data[..i]);
            self.line.emit(out);
            data = &data[i + 1..];
        }
        self.line.append(data);
    }

    /// End of file: the last line may lack its newline.
    fn finish(&mut self, out: &mut Output<'_>) {
        if !self.line.bytes.is_empty() || self.line.dropped > 0 {
            self.line.emit(out);
        }
        self.pipe = None;
    }
}

impl LineBuf {
    fn append(&mut self, data: &[u8]) {
        let room = MAX_LINE_BYTES
            .saturating_sub(self.bytes.len())
            .min(data.len());
        self.bytes.extend_from_slice(&data[..room]);
        self.dropped += (data.len() - room) as u64;
    }

    fn emit(&mut self, out: &mut Output<'_>) {
        if self.bytes.last() == Some(&b'\r') {
            self.bytes.pop();
        }
        out.line(self.stream, &self.bytes, self.dropped);
        self.bytes.clear();
        self.dropped = 0;
    }
}

/// Where lines go: the decoder, the retry patterns, the tail, the caller.
struct Output<'a> {
    on_event: &'a mut (dyn FnMut(AgentEvent) + Send),
    /// Lowercased retry patterns, with the original spelling for messages.
    patterns: Vec<(String, String)>,
    matched: Option<String>,
    decoder: Decoder,
    /// Usage of the attempts before this one.
    total: Usage,
    tail: Tail,
    /// This attempt's last error the decoder reported, and its last non-empty stderr line.
    decoded_error: Option<String>,
    stderr_error: Option<String>,
    /// What this attempt's error lines say: a refusal, a usage limit.
    refusal: Option<Refusal>,
    /// The refusal came from stderr (a log line), so a decoded one, in cleaner words, wins.
    refusal_from_stderr: bool,
    limit: Option<UsageLimit>,
}

impl<'a> Output<'a> {
    fn new(on_event: &'a mut (dyn FnMut(AgentEvent) + Send), patterns: &[String]) -> Self {
        Output {
            on_event,
            patterns: patterns
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| (p.to_ascii_lowercase(), p.clone()))
                .collect(),
            matched: None,
            decoder: Decoder::new(StreamFormat::Text),
            total: Usage::default(),
            tail: Tail::default(),
            decoded_error: None,
            stderr_error: None,
            refusal: None,
            refusal_from_stderr: false,
            limit: None,
        }
    }

    fn start_attempt(&mut self, decoder: Decoder) {
        self.decoder = decoder;
        self.matched = None;
        self.decoded_error = None;
        self.stderr_error = None;
        self.refusal = None;
        self.refusal_from_stderr = false;
        self.limit = None;
    }

    /// A failed attempt's refusal (first) or usage limit, as how the run ends.
    fn refused_or_limited(&mut self) -> Option<RunResult> {
        self.refusal
            .take()
            .map(RunResult::Refused)
            .or_else(|| self.limit.take().map(RunResult::UsageLimit))
    }

    /// Reads an error line of the agent (decoded, or on stderr) for a refusal or a usage
    /// limit; the first of each counts, except that a decoded refusal replaces one read
    /// from stderr (where CLIs log in their own formats).
    fn classify(&mut self, line: &str, stream: Stream) {
        let format = self.decoder.format();
        if (self.refusal.is_none() || (self.refusal_from_stderr && stream == Stream::Stdout))
            && let Some(found) = refusal::refusal(format, line)
        {
            self.refusal = Some(found);
            self.refusal_from_stderr = stream == Stream::Stderr;
        }
        if self.limit.is_none() {
            self.limit = refusal::usage_limit(format, line, &jiff::Zoned::now());
        }
    }

    /// The attempt's own words for what went wrong: a decoded error event wins over stderr.
    fn last_error(&self) -> Option<String> {
        let error = self.decoded_error.as_ref().or(self.stderr_error.as_ref())?;
        Some(console::truncate_str(error, MAX_ERROR_COLUMNS, "…").into_owned())
    }

    fn end_attempt(&mut self) {
        for text in self.decoder.finish() {
            self.emit(Stream::Stdout, text);
        }
        self.total = self.total.plus(self.decoder.usage());
        self.decoder = Decoder::new(StreamFormat::Text);
    }

    fn emit(&mut self, stream: Stream, text: String) {
        self.tail.push(&text);
        (self.on_event)(AgentEvent::Line { stream, text });
    }

    fn line(&mut self, stream: Stream, raw: &[u8], dropped: u64) {
        let text = String::from_utf8_lossy(raw);
        let mut lines = match stream {
            Stream::Stdout => {
                let d = self.decoder.decode(&text);
                if d.usage_changed {
                    (self.on_event)(AgentEvent::Usage(self.total.plus(self.decoder.usage())));
                }
                if let Some(error) = d.error {
                    self.classify(&error, Stream::Stdout);
                    self.decoded_error = Some(error);
                }
                d.lines
            }
            Stream::Stderr => {
                if !text.trim().is_empty() {
                    self.classify(&text, Stream::Stderr);
                    self.stderr_error = Some(text.trim().to_owned());
                }
                vec![text.into_owned()]
            }
        };
        // Patterns see the decoded text, not raw JSON: ids, durations and token counts in an
        // agent's events ("retry_delay_ms":4297, a uuid with 529 in it) must not match "429".
        if self.matched.is_none() && !self.patterns.is_empty() {
            for line in &lines {
                let lower = line.to_ascii_lowercase();
                if let Some((_, orig)) =
                    self.patterns.iter().find(|(p, _)| contains_word(&lower, p))
                {
                    self.matched = Some(orig.clone());
                    break;
                }
            }
        }
        if dropped > 0 {
            let note = format!(
                " [line truncated: {} of {} bytes shown]",
                raw.len(),
                raw.len() as u64 + dropped
            );
            match lines.last_mut() {
                Some(last) => last.push_str(&note),
                None => lines.push(note),
            }
        }
        for text in lines {
            self.emit(stream, text);
        }
    }
}

/// Whether `needle` occurs in `hay` with no ASCII letter or digit right before or after it.
fn contains_word(hay: &str, needle: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    hay.match_indices(needle).any(|(i, _)| {
        !alnum(hay[..i].chars().next_back()) && !alnum(hay[i + needle.len()..].chars().next())
    })
}

/// The last [`TAIL_BYTES`] of output, whole lines where they fit.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    fn push(&mut self, line: &str) {
        let mut cut = line.len().min(TAIL_BYTES);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        self.lines.push_back(line[..cut].to_owned());
        self.bytes += cut + 1;
        while self.bytes > TAIL_BYTES {
            match self.lines.pop_front() {
                Some(l) => self.bytes -= l.len() + 1,
                None => break,
            }
        }
    }

    fn text(&self) -> String {
        let v: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        v.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::contains_word;

    #[test]
    fn retry_patterns_match_whole_words_only() {
        assert!(contains_word("api error: 529 overloaded", "529"));
        assert!(contains_word(
            "\"error\":\"rate_limit_error\"",
            "rate_limit"
        ));
        assert!(contains_word("overloaded_error", "overloaded"));
        assert!(!contains_word("gateway (127.0.0.1:35291)", "529"));
        assert!(!contains_word("\"retry_delay_ms\":4297", "429"));
        assert!(!contains_word("session 8a4290c1", "429"));
    }

    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(35),
            ..RetryPolicy::default()
        };
        let d: Vec<u64> = (1..=4).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(d, [10, 20, 35, 35]);
        assert_eq!(p.backoff(200), Duration::from_secs(35));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut t = Tail::default();
        for i in 0..2000 {
            t.push(&format!("line {i}"));
        }
        let text = t.text();
        assert!(text.len() <= TAIL_BYTES);
        assert!(text.ends_with("line 1999"));
        t.push(&"é".repeat(5000));
        assert!(t.text().len() <= TAIL_BYTES);
    }
}
