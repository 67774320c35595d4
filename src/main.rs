//! `git-conflux`: parse, set up logging, dispatch, and turn the result into an exit code.

use std::process::ExitCode;

use clap::Parser;

use git_conflux::cli::Cli;
use git_conflux::commands;
use git_conflux::error::Exit;
use git_conflux::git::env::RepoEnv;

fn main() -> ExitCode {
    limit_malloc_arenas();
    // SAFETY: the first thing main does after the allocator setting: no other thread exists.
    let repo_env = unsafe { RepoEnv::take() };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Ok.code()
            });
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    let exit = match std::panic::catch_unwind(|| commands::run(cli, repo_env)) {
        Ok(Ok(exit)) => exit,
        Ok(Err(err)) => {
            eprintln!("{} {err}", console::style("error:").red().bold());
            err.exit
        }
        Err(_) => {
            eprintln!(
                "error: internal error (a bug in git-conflux); please report it with the message above"
            );
            Exit::Internal
        }
    };
    ExitCode::from(exit.code())
}

/// `RUST_LOG` wins; otherwise -v shows info and -vv debug, on stderr.
fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("git_conflux={default}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Plain)
        .try_init();
}

/// Log lines as the rest of the output speaks: `warning: …`, `error: …`, `info: …` (the
/// same words as the CLI's own warnings), with no timestamp or escape codes.
struct Plain;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Plain
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(writer, "{level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// glibc gives each thread that allocates its own malloc arena; the git work runs on many
/// short-lived blocking threads, so arenas (and RSS) multiply with the number of slots. Two
/// arenas are plenty for an orchestrator that mostly waits: peak RSS at 100 changes and 16
/// slots went from 46 MB to 36 MB (`scripts/bench.sh orchestrate`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread
    // exists, and a failure (return 0) just leaves glibc's default in place.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
