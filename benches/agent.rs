//! Agent runner benchmarks: stream decoding throughput, the runner's spawn-to-first-line
//! latency against a bare `tokio::process` spawn, and a run in `sandbox: bwrap` against the
//! same run unsandboxed.
//!
//! `cargo bench --bench agent`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use git_conflux::agent::presets::Invocation;
use git_conflux::agent::runner::{
    AgentEvent, Cancel, Limits, RetryPolicy, RunRequest, Stagger, run,
};
use git_conflux::agent::stream::{Decoder, StreamFormat};
use git_conflux::sandbox;
use tokio::io::{AsyncBufReadExt, BufReader};

const STREAM_BYTES: usize = 100 * 1024 * 1024;

/// 100 MB of Claude Code stream-json: the recorded session's lines, repeated.
fn claude_stream() -> Vec<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agent/claude-success.jsonl");
    let recorded = std::fs::read_to_string(path).expect("fixture present");
    let lines: Vec<&str> = recorded.lines().collect();
    let mut out = Vec::new();
    let mut total = 0;
    while total < STREAM_BYTES {
        for l in &lines {
            total += l.len() + 1;
            out.push((*l).to_owned());
        }
    }
    out
}

fn decode_throughput(c: &mut Criterion) {
    let lines = claude_stream();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("claude_stream_json_100MB", |b| {
        b.iter(|| {
            let mut d = Decoder::new(StreamFormat::Claude).relative_to(Path::new("/tmp/rec/repo"));
            let mut n = 0;
            for l in &lines {
                n += d.decode(l).lines.len();
            }
            black_box(n)
        })
    });
    g.finish();
}

fn request(cwd: &Path) -> RunRequest {
    RunRequest {
        invocation: Invocation {
            command: "echo hi".into(),
            stdin: None,
            format: StreamFormat::Text,
            env: vec![],
        },
        cwd: cwd.to_owned(),
        env: vec![],
        limits: Limits::default(),
        retry: RetryPolicy::default(),
        owns_cwd: false,
        wrap: None,
    }
}

/// Spawn to first line of `sh -c 'echo hi'` through [`run`].
async fn runner_once(cwd: &Path, stagger: &Stagger, cancel: &Cancel) -> Duration {
    first_line(request(cwd), stagger, cancel).await
}

/// Spawn to first line of `req` through [`run`].
async fn first_line(req: RunRequest, stagger: &Stagger, cancel: &Cancel) -> Duration {
    let start = Instant::now();
    let mut first = None;
    run(req, stagger, cancel, &mut |e| {
        if first.is_none() && matches!(e, AgentEvent::Line { .. }) {
            first = Some(start.elapsed());
        }
    })
    .await;
    first.expect("a line")
}

/// The same command with the same stdio (stdin null, stdout and stderr piped) and working
/// directory, spawned with bare `tokio::process`, to its first stdout line.
async fn bare_once(cwd: &Path) -> Duration {
    let start = Instant::now();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("echo hi")
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read");
    let took = start.elapsed();
    black_box(line);
    child.wait().await.expect("wait");
    took
}

/// `iters` rounds of `other` (untimed) then `timed`; the time of `timed` alone. Both
/// benchmarks of a pair run both, so they see the same mix of load.
fn interleaved(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    timed: impl AsyncFn() -> Duration,
    other: impl AsyncFn() -> Duration,
) -> Duration {
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            black_box(other().await);
            total += timed().await;
        }
        total
    })
}

/// The runner against a bare spawn. Target: runner / bare <= 1.2. Only the time to the first
/// line is counted in both; what follows it (the runner reading to end of file, reaping and
/// checking the process tree; the bare child's wait) is not. On a small shared machine the
/// load changes from second to second, so each iteration runs both, one timed and the other
/// not: the two benchmarks see the same mix of load, caches and process table.
fn first_line_latency(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let cwd = std::env::temp_dir();
    let (stagger, cancel) = (Stagger::new(Duration::ZERO), Cancel::new());
    let mut g = c.benchmark_group("spawn_to_first_line");
    let runner = async || runner_once(&cwd, &stagger, &cancel).await;
    let bare = async || bare_once(&cwd).await;
    g.bench_function("runner_echo_hi", |b| {
        b.iter_custom(|iters| interleaved(&rt, iters, runner, bare))
    });
    g.bench_function("bare_tokio_echo_hi", |b| {
        b.iter_custom(|iters| interleaved(&rt, iters, bare, runner))
    });
    g.finish();
}

/// Runs `git` in `dir`; panics when it fails.
fn git(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.name=B", "-c", "user.email=b@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

/// `sandbox: bwrap` against no sandbox, spawn to first line of the same `echo hi` in the
/// same linked worktree: what the sandbox adds (building the mounts from the worktree's git
/// layout, bubblewrap's namespaces and mounts). Interleaved like [`first_line_latency`].
fn sandbox_latency(c: &mut Criterion) {
    if which::which("bwrap").is_err() {
        eprintln!("bubblewrap (bwrap) is not installed: the sandbox benchmark is skipped");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("repo");
    std::fs::create_dir_all(&root).expect("repo dir");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let wt = dir.path().join("wt");
    git(
        &root,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "conflux/a",
            wt.to_str().expect("utf-8"),
        ],
    );
    let settings = sandbox::Settings {
        kind: sandbox::Kind::Bwrap,
        ..sandbox::Settings::default()
    };
    let sandboxed = || {
        let mut req = request(&wt);
        req.wrap = sandbox::wrap(&settings, None, &mut req.invocation, &wt).expect("sandbox");
        req
    };
    let (stagger, cancel) = (Stagger::new(Duration::ZERO), Cancel::new());
    let mut g = c.benchmark_group("sandbox_spawn_to_first_line");
    let bwrap = async || first_line(sandboxed(), &stagger, &cancel).await;
    let plain = async || first_line(request(&wt), &stagger, &cancel).await;
    g.bench_function("bwrap_echo_hi", |b| {
        b.iter_custom(|iters| interleaved(&rt, iters, bwrap, plain))
    });
    g.bench_function("unsandboxed_echo_hi", |b| {
        b.iter_custom(|iters| interleaved(&rt, iters, plain, bwrap))
    });
    g.finish();
}

criterion_group!(
    benches,
    decode_throughput,
    first_line_latency,
    sandbox_latency
);
criterion_main!(benches);
