//! Agent presets and the command line of one agent run.
//!
//! A preset knows one CLI's non-interactive flags, how it takes the prompt and which stream
//! decoder reads its output. [`build`] turns a preset or a user's `agent.command` into the
//! `sh -c` command line; placeholders become references to `CONFLUX_*` variables that carry
//! their values ([`template`]), so no value is ever read as shell text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::shell::{self, Program};
use super::stream::StreamFormat;
use super::template::{self, Placeholder};

/// Longest prompt passed for `{prompt}`. It travels as the variable `CONFLUX_PROMPT`, and the
/// kernel refuses any single environment string (like any argument) over 128 KiB
/// (`MAX_ARG_STRLEN`).
pub const MAX_PROMPT_ARG_BYTES: usize = 100 * 1024;

/// How the prompt reaches the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptVia {
    /// Passed for `{prompt}` as one word, through `CONFLUX_PROMPT` (short prompts only).
    Arg,
    /// Written to a file whose path is substituted for `{prompt_file}`.
    File,
    /// Written to the agent's standard input.
    Stdin,
}

/// One CLI's non-interactive invocation.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    /// Looked up on PATH by [`check_available`].
    pub binary: &'static str,
    /// The command line; `{extra_args}` marks where a spec's `extra_args` go (verbatim).
    pub template: &'static str,
    pub prompt_via: PromptVia,
    pub format: StreamFormat,
}

/// Flags checked against each CLI's `--help` (claude 2.1, codex exec, gemini 0.x, opencode run)
/// and aider's documented options. The agents run unattended in a throwaway worktree, so each
/// preset turns the CLI's permission prompts off; conflux commits their work itself.
static PRESETS: [Preset; 5] = [
    Preset {
        name: "claude",
        binary: "claude",
        // `-p` reads the prompt from stdin when no prompt argument is given. Permissions: the
        // agent runs unattended in a throwaway worktree, so every tool is allowed. The CLI
        // refuses this flag as root unless `IS_SANDBOX=1`; [`preflight`] says so up front.
        // To narrow it, `agent.command` gives the same line with `--permission-mode acceptEdits
        // --allowedTools ...` in place of the flag (which would otherwise win).
        template: "claude -p --output-format stream-json --verbose --dangerously-skip-permissions{extra_args}",
        prompt_via: PromptVia::Stdin,
        format: StreamFormat::Claude,
    },
    Preset {
        name: "codex",
        binary: "codex",
        // `-` makes `codex exec` read the instructions from stdin. No approval prompt (`exec`
        // ignores `-c approval_policy`) and no sandbox: `workspace-write` cannot write a linked
        // worktree's gitdir, so the agent's own commits would fail; the man page says so.
        template: "codex exec --json --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check{extra_args} -",
        prompt_via: PromptVia::Stdin,
        format: StreamFormat::Codex,
    },
    Preset {
        name: "gemini",
        binary: "gemini",
        // Headless whenever stdin is not a terminal; the prompt is read from stdin. A new
        // worktree is an untrusted folder, where the CLI exits 55 (0.61) without
        // `--skip-trust` (or GEMINI_CLI_TRUST_WORKSPACE=true).
        template: "gemini --output-format stream-json --yolo --skip-trust{extra_args}",
        prompt_via: PromptVia::Stdin,
        format: StreamFormat::Gemini,
    },
    Preset {
        name: "opencode",
        binary: "opencode",
        // `run` reads the message from stdin when stdin is not a terminal. Permissions: a
        // headless `run` rejects whatever resolves to "ask" (1.18; earlier versions waited for
        // ever), such as a path outside the worktree, and the agent stops there; `--auto`
        // approves all but what the user's config denies. `--print-logs --log-level ERROR`:
        // some failures (an unknown model) reach the JSON stream only as "Unexpected server
        // error", their reason only the log.
        template: "opencode run --format json --auto --print-logs --log-level ERROR{extra_args}",
        prompt_via: PromptVia::Stdin,
        format: StreamFormat::Opencode,
    },
    Preset {
        name: "aider",
        binary: "aider",
        template: "aider --message-file {prompt_file} --yes-always --no-pretty --no-stream --no-auto-commits --no-check-update --no-show-model-warnings --no-show-release-notes --no-analytics --no-gitignore --chat-history-file {prompt_file}.chat.md --input-history-file {prompt_file}.input{extra_args}",
        prompt_via: PromptVia::File,
        format: StreamFormat::Aider,
    },
];

/// Preset names in the order `init` looks for their binaries.
pub const PRESET_NAMES: &[&str] = &["claude", "codex", "gemini", "opencode", "aider"];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// What the configuration says the agent is.
///
/// ```yaml
/// agent: claude                                        # a preset
/// agent: { preset: claude, extra_args: "--model opus", env: { K: V } }
/// agent: { command: "my-agent {prompt_file}", format: text, prompt: file }
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum AgentSpec {
    Preset(String),
    Tuned {
        preset: String,
        /// Shell words appended to the preset's flags, verbatim (not quoted).
        #[serde(default)]
        extra_args: Option<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    Custom {
        command: String,
        /// Defaults to `text` (lines pass through unchanged).
        #[serde(default)]
        format: Option<StreamFormat>,
        /// Defaults to what the command uses: `{prompt_file}`, else `{prompt}`, else stdin.
        #[serde(default)]
        prompt: Option<PromptVia>,
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
}

/// Values for the placeholders of one run.
#[derive(Clone, Debug)]
pub struct Vars {
    pub change_id: String,
    pub worktree: PathBuf,
    pub base: String,
    pub prompt: String,
    /// Where the prompt is written when the command uses `{prompt_file}`; a path under the
    /// runtime directory, never inside the worktree.
    pub prompt_file: PathBuf,
    /// The pipeline's iteration number, exported as `CONFLUX_ITERATION`.
    pub iteration: u32,
}

/// A ready-to-run agent command.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// The command line for `sh -c`.
    pub command: String,
    /// Bytes written to the agent's stdin (then closed); `None` means /dev/null.
    pub stdin: Option<Vec<u8>>,
    pub format: StreamFormat,
    /// The placeholders' `CONFLUX_*` variables, `CONFLUX_ITERATION` and the spec's `env`.
    pub env: Vec<(String, String)>,
}

/// Why an agent cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown agent preset `{name}`; {advice}")]
    UnknownPreset {
        name: String,
        /// `did you mean `claude`?` for a typo, else the presets and `agent.command`.
        advice: String,
    },
    #[error("agent command is empty; set `agent.command` to the command that runs your agent")]
    EmptyCommand,
    #[error("agent command `{command}` cannot be split into shell words: {source}")]
    BadCommand {
        command: String,
        source: shell_words::ParseError,
    },
    #[error("agent binary `{binary}` not found on PATH")]
    NotFound { binary: String },
    #[error(
        "agent binary {} does not exist or is not executable; fix `agent.command`, or make it executable (chmod +x)", path.display()
    )]
    NotExecutable { path: PathBuf },
    #[error(
        "the prompt is {len} bytes, over the {max}-byte limit of one argument for {{prompt}}; use {{prompt_file}} or `prompt: stdin` instead"
    )]
    PromptTooLong { len: usize, max: usize },
    #[error(
        "agent command `{command}`: {source}; fix it in `agent.command` (or `review.agent.command`)"
    )]
    Template {
        command: String,
        source: template::Error,
    },
    #[error(
        "the `claude` preset passes --dangerously-skip-permissions, which Claude Code refuses for root (uid 0) unless IS_SANDBOX=1 {}",
        match .value.as_deref() {
            Some(value) => format!("(it is `{value}` here: only exactly `1` counts, not yes or true)"),
            None => "(exactly `1`: yes or true do not count)".to_owned(),
        }
    )]
    RootWithoutSandbox {
        /// The IS_SANDBOX value that was given, if any.
        value: Option<String>,
    },
    #[error("cannot write the prompt file {path}: {source}")]
    PromptFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl AgentSpec {
    /// The command line it runs, placeholders unfilled, and how the prompt reaches it: what
    /// the dry-run plan shows.
    pub(crate) fn command_line(&self) -> Result<String, Error> {
        let r = self.resolve()?;
        let via = match r.prompt_via {
            PromptVia::Stdin => "the prompt on its standard input",
            PromptVia::File => "the prompt in the file {prompt_file}",
            PromptVia::Arg => "the prompt as the argument {prompt}",
        };
        Ok(format!("{}  ({via})", r.template))
    }

    fn resolve(&self) -> Result<Resolved<'_>, Error> {
        Ok(match self {
            AgentSpec::Preset(name) => {
                let p = named(name)?;
                Resolved {
                    template: with_extra_args(p.template, ""),
                    prompt_via: p.prompt_via,
                    format: p.format,
                    env: None,
                }
            }
            AgentSpec::Tuned {
                preset: name,
                extra_args,
                env,
            } => {
                let p = named(name)?;
                Resolved {
                    template: with_extra_args(p.template, extra_args.as_deref().unwrap_or("")),
                    prompt_via: p.prompt_via,
                    format: p.format,
                    env: Some(env),
                }
            }
            AgentSpec::Custom {
                command,
                format,
                prompt,
                env,
            } => {
                let via = prompt.unwrap_or(if command.contains("{prompt_file}") {
                    PromptVia::File
                } else if command.contains("{prompt}") {
                    PromptVia::Arg
                } else {
                    PromptVia::Stdin
                });
                Resolved {
                    template: command.clone(),
                    prompt_via: via,
                    format: format.unwrap_or(StreamFormat::Text),
                    env: Some(env),
                }
            }
        })
    }
}

impl AgentSpec {
    /// The preset this spec names, if any, for checking the name when the file is read.
    /// The stream format its output is decoded with; `None` for an unknown preset.
    pub(crate) fn format(&self) -> Option<StreamFormat> {
        self.resolve().ok().map(|r| r.format)
    }

    pub(crate) fn preset_name(&self) -> Option<&str> {
        match self {
            AgentSpec::Preset(name) | AgentSpec::Tuned { preset: name, .. } => Some(name),
            AgentSpec::Custom { .. } => None,
        }
    }

    /// The user-written part of the command line that may hold placeholders, with its key
    /// (`command` or `extra_args`), for checking at configuration time.
    pub(crate) fn template_field(&self) -> Option<(&'static str, &str)> {
        match self {
            AgentSpec::Preset(_) => None,
            AgentSpec::Tuned { extra_args, .. } => extra_args.as_deref().map(|x| ("extra_args", x)),
            AgentSpec::Custom { command, .. } => Some(("command", command)),
        }
    }
}

/// The preset called `name`, or an error listing the known ones (and the one meant, for a
/// typo); the configuration checks its `agent:` with it too.
pub(crate) fn named(name: &str) -> Result<&'static Preset, Error> {
    preset(name).ok_or_else(|| Error::UnknownPreset {
        name: name.to_owned(),
        advice: crate::suggest::did_you_mean(name, PRESET_NAMES.iter().copied()).unwrap_or_else(
            || {
                format!(
                    "the presets are {}, or set `agent.command`",
                    PRESET_NAMES.join(", ")
                )
            },
        ),
    })
}

/// A preset's template with the spec's `extra_args` (shell words, verbatim) in place.
fn with_extra_args(template: &str, extra_args: &str) -> String {
    let extra = match extra_args.trim() {
        "" => String::new(),
        words => format!(" {words}"),
    };
    template.replace("{extra_args}", &extra)
}

struct Resolved<'a> {
    template: String,
    prompt_via: PromptVia,
    format: StreamFormat,
    env: Option<&'a BTreeMap<String, String>>,
}

/// Finds the agent's binary before any worktree is created: the preset's on PATH, or the
/// program a custom command starts, found the way `sh -c` would ([`shell::program_of`]). `None`
/// when that cannot be told before the run (a builtin, `$VAR`, a compound command): such a
/// command is not refused.
pub fn check_available(spec: &AgentSpec) -> Result<Option<PathBuf>, Error> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    check_available_with(spec, home.as_deref())
}

fn check_available_with(spec: &AgentSpec, home: Option<&Path>) -> Result<Option<PathBuf>, Error> {
    let binary = match spec {
        AgentSpec::Preset(name) | AgentSpec::Tuned { preset: name, .. } => {
            named(name)?.binary.to_owned()
        }
        AgentSpec::Custom { command, .. } => {
            let words = shell_words::split(command).map_err(|source| Error::BadCommand {
                command: command.clone(),
                source,
            })?;
            match shell::program_of(&words, home) {
                Program::Named(program) => program,
                Program::Untold => return Ok(None),
                Program::Nothing => return Err(Error::EmptyCommand),
            }
        }
    };
    which::which(&binary).map(Some).map_err(|_| {
        if binary.contains('/') {
            Error::NotExecutable {
                path: PathBuf::from(&binary),
            }
        } else {
            Error::NotFound { binary }
        }
    })
}

/// Checks what the agent's CLI would refuse at once, before any worktree exists: Claude
/// Code exits 1 on `--dangerously-skip-permissions` as root unless `IS_SANDBOX=1`, which a
/// run would otherwise retry for minutes. `env` is the configured agent environment (the
/// spec's own `env` is looked at too); the process environment counts as well.
pub fn preflight(spec: &AgentSpec, env: &BTreeMap<String, String>) -> Result<(), Error> {
    let process = std::env::var("IS_SANDBOX").ok();
    preflight_as(
        spec,
        env,
        process.as_deref(),
        nix::unistd::geteuid().is_root(),
    )
}

fn preflight_as(
    spec: &AgentSpec,
    env: &BTreeMap<String, String>,
    process_is_sandbox: Option<&str>,
    root: bool,
) -> Result<(), Error> {
    let (name, own_env) = match spec {
        AgentSpec::Preset(name) => (name.as_str(), None),
        AgentSpec::Tuned { preset, env, .. } => (preset.as_str(), Some(env)),
        AgentSpec::Custom { .. } => return Ok(()),
    };
    if name != "claude" || !root {
        return Ok(());
    }
    // The spec's env is applied after the config's, so it wins.
    let configured = own_env
        .and_then(|e| e.get("IS_SANDBOX"))
        .or_else(|| env.get("IS_SANDBOX"))
        .map(String::as_str);
    match configured.or(process_is_sandbox) {
        Some("1") => Ok(()),
        value => Err(Error::RootWithoutSandbox {
            value: value.map(str::to_owned),
        }),
    }
}

/// Builds the command line of one run. Writes `vars.prompt_file` (atomically) when the command
/// uses `{prompt_file}`.
pub fn build(spec: &AgentSpec, vars: &Vars) -> Result<Invocation, Error> {
    let r = spec.resolve()?;
    if r.template.trim().is_empty() {
        return Err(Error::EmptyCommand);
    }
    let expanded =
        template::expand(&r.template, template::AGENT).map_err(|source| Error::Template {
            command: r.template.clone(),
            source,
        })?;
    let prompt_arg = expanded.uses(template::PROMPT);
    if prompt_arg && vars.prompt.len() > MAX_PROMPT_ARG_BYTES {
        return Err(Error::PromptTooLong {
            len: vars.prompt.len(),
            max: MAX_PROMPT_ARG_BYTES,
        });
    }
    let prompt_file = expanded.uses(template::PROMPT_FILE) || r.prompt_via == PromptVia::File;
    if prompt_file {
        crate::files::write_atomic(&vars.prompt_file, vars.prompt.as_bytes()).map_err(
            |source| Error::PromptFile {
                path: vars.prompt_file.clone(),
                source,
            },
        )?;
    }
    let mut env = vec![
        ("CONFLUX_CHANGE_ID".to_owned(), vars.change_id.clone()),
        (
            "CONFLUX_WORKTREE".to_owned(),
            vars.worktree.to_string_lossy().into_owned(),
        ),
        ("CONFLUX_BASE".to_owned(), vars.base.clone()),
        ("CONFLUX_ITERATION".to_owned(), vars.iteration.to_string()),
    ];
    if prompt_file {
        env.push((
            template::PROMPT_FILE.var.to_owned(),
            vars.prompt_file.to_string_lossy().into_owned(),
        ));
    }
    // Only when used: a long prompt sent through stdin must not overflow the environment.
    if prompt_arg {
        env.push((template::PROMPT.var.to_owned(), vars.prompt.clone()));
    }
    if let Some(extra_env) = r.env {
        env.extend(extra_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(Invocation {
        command: expanded.command,
        stdin: (r.prompt_via == PromptVia::Stdin).then(|| vars.prompt.clone().into_bytes()),
        format: r.format,
        env,
    })
}

impl Invocation {
    /// A configured shell command (setup, verify, archive, a hook), run once with no stdin:
    /// its placeholders (`known`) become references to the variables `env` carries.
    pub(crate) fn shell(
        command: &str,
        known: &[Placeholder],
        env: Vec<(String, String)>,
    ) -> Result<Invocation, template::Error> {
        Ok(Invocation {
            command: template::expand(command, known)?.command,
            stdin: None,
            format: StreamFormat::Text,
            env,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A custom agent command with the defaults.
    fn custom(command: &str) -> AgentSpec {
        AgentSpec::Custom {
            command: command.into(),
            format: None,
            prompt: None,
            env: BTreeMap::new(),
        }
    }

    fn vars(dir: &Path, prompt: &str) -> Vars {
        Vars {
            change_id: "add-x".into(),
            worktree: dir.join("wt dir"),
            base: "main".into(),
            prompt: prompt.into(),
            prompt_file: dir.join("run/prompt.md"),
            iteration: 2,
        }
    }

    #[test]
    fn every_preset_is_named_and_resolves() {
        for name in PRESET_NAMES {
            let p = preset(name).expect("listed preset exists");
            assert_eq!(p.name, *name);
            assert!(p.template.starts_with(p.binary));
        }
        assert_eq!(PRESET_NAMES.len(), PRESETS.len());
    }

    #[test]
    fn placeholder_values_reach_the_command_as_words_never_as_shell() {
        let dir = tempfile::tempdir().unwrap();
        let spec =
            custom("printf '%s\\0' {prompt} --id=\"{change_id}\" --in {worktree} {base} ${HOME}");
        let hostile = "it's $(touch pwned) `touch pwned2` \"'; {change_id}";
        let inv = build(&spec, &vars(dir.path(), hostile)).unwrap();
        assert!(!inv.command.contains("pwned"), "{}", inv.command);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&inv.command)
            .current_dir(dir.path())
            .envs(inv.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", "/home/x")
            .output()
            .unwrap();
        let words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(String::from)
            .collect();
        let worktree = dir.path().join("wt dir").to_string_lossy().into_owned();
        assert_eq!(
            words,
            [hostile, "--id=add-x", "--in", &worktree, "main", "/home/x"]
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(inv.stdin, None);
        assert!(inv.env.contains(&("CONFLUX_ITERATION".into(), "2".into())));
    }

    #[test]
    fn single_quoted_placeholder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = custom("agent '{prompt}'");
        let err = build(&spec, &vars(dir.path(), "x")).unwrap_err();
        assert!(
            err.to_string().contains("remove the single quotes"),
            "{err}"
        );
    }

    #[test]
    fn prompt_file_is_written_and_stdin_left_closed() {
        let dir = tempfile::tempdir().unwrap();
        let spec = AgentSpec::Custom {
            command: "agent --file {prompt_file}".into(),
            format: Some(StreamFormat::Claude),
            prompt: None,
            env: BTreeMap::new(),
        };
        let v = vars(dir.path(), "do the tasks");
        let inv = build(&spec, &v).unwrap();
        assert_eq!(
            std::fs::read_to_string(&v.prompt_file).unwrap(),
            "do the tasks"
        );
        assert_eq!(inv.stdin, None);
        assert_eq!(inv.format, StreamFormat::Claude);
    }

    #[test]
    fn stdin_preset_gets_prompt_and_extra_args() {
        let dir = tempfile::tempdir().unwrap();
        let spec = AgentSpec::Tuned {
            preset: "codex".into(),
            extra_args: Some("--model o3".into()),
            env: BTreeMap::from([("K".into(), "V".into())]),
        };
        let inv = build(&spec, &vars(dir.path(), "hello")).unwrap();
        assert_eq!(inv.stdin.as_deref(), Some(&b"hello"[..]));
        assert!(inv.command.ends_with("--model o3 -"), "{}", inv.command);
        assert!(inv.env.contains(&("K".into(), "V".into())));
    }

    #[test]
    fn long_prompt_as_argument_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = custom("agent {prompt}");
        let err = build(&spec, &vars(dir.path(), &"x".repeat(200 * 1024))).unwrap_err();
        assert!(matches!(err, Error::PromptTooLong { .. }));
        assert!(err.to_string().contains("{prompt_file}"), "{err}");
    }

    #[test]
    fn specs_deserialize_from_config_shapes() {
        let p: AgentSpec = serde_json::from_str(r#""claude""#).unwrap();
        assert_eq!(p, AgentSpec::Preset("claude".into()));
        let c: AgentSpec = serde_json::from_str(
            r#"{"command":"a {prompt_file}","format":"text","prompt":"file"}"#,
        )
        .unwrap();
        assert!(matches!(
            c,
            AgentSpec::Custom {
                prompt: Some(PromptVia::File),
                format: Some(StreamFormat::Text),
                ..
            }
        ));
        let t: AgentSpec =
            serde_json::from_str(r#"{"preset":"claude","extra_args":"--model opus"}"#).unwrap();
        assert!(matches!(t, AgentSpec::Tuned { .. }));
        assert!(serde_json::from_str::<AgentSpec>(r#"{"command":"a","bogus":1}"#).is_err());
    }

    #[test]
    fn claude_as_root_needs_is_sandbox() {
        let none = BTreeMap::new();
        let sandbox = BTreeMap::from([("IS_SANDBOX".to_owned(), "1".to_owned())]);
        let claude = AgentSpec::Preset("claude".into());
        let err = preflight_as(&claude, &none, None, true).unwrap_err();
        assert!(matches!(err, Error::RootWithoutSandbox { .. }), "{err}");
        assert!(preflight_as(&claude, &sandbox, None, true).is_ok());
        assert!(preflight_as(&claude, &none, Some("1"), true).is_ok());
        assert!(preflight_as(&claude, &none, Some("0"), true).is_err());
        // Claude Code 2.1 refuses `yes` and `true` too: the message says only `1` counts.
        for value in ["yes", "true"] {
            let err = preflight_as(&claude, &none, Some(value), true).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("it is `{value}` here: only exactly `1` counts")),
                "{err}"
            );
        }
        assert!(
            err.to_string().contains("yes or true do not count"),
            "{err}"
        );
        assert!(preflight_as(&claude, &none, None, false).is_ok());
        let tuned = AgentSpec::Tuned {
            preset: "claude".into(),
            extra_args: None,
            env: sandbox.clone(),
        };
        assert!(preflight_as(&tuned, &none, None, true).is_ok());
        let tuned_off = AgentSpec::Tuned {
            preset: "claude".into(),
            extra_args: None,
            env: BTreeMap::from([("IS_SANDBOX".to_owned(), "0".to_owned())]),
        };
        assert!(preflight_as(&tuned_off, &sandbox, None, true).is_err());
        let codex = AgentSpec::Preset("codex".into());
        assert!(preflight_as(&codex, &none, None, true).is_ok());
    }

    #[test]
    fn missing_binaries_are_named() {
        let err = check_available(&custom("FOO=1 conflux-no-such-agent-binary --x")).unwrap_err();
        assert!(
            err.to_string()
                .contains("`conflux-no-such-agent-binary` not found"),
            "{err}"
        );
        let found = check_available(&custom("sh -c true")).unwrap().unwrap();
        assert!(found.ends_with("sh"));
        let unknown = check_available(&AgentSpec::Preset("nope".into())).unwrap_err();
        assert!(unknown.to_string().contains("claude, codex"), "{unknown}");
    }

    #[test]
    fn preflight_finds_the_program_sh_would_run() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("bin")).unwrap();
        let script = home.path().join("bin/agent");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        let check = |command: &str| check_available_with(&custom(command), Some(home.path()));
        for found in [
            "exec sh agent.py",
            "A=1 B='x y' exec sh",
            "env FOO=1 sh {prompt}",
            "env -i -u HOME PATH=/bin sh",
        ] {
            let path = check(found)
                .unwrap()
                .unwrap_or_else(|| panic!("{found}: not judged"));
            assert!(path.ends_with("sh"), "{found}: {}", path.display());
        }
        assert_eq!(check("~/bin/agent --x").unwrap(), Some(script.clone()));
        for missing in [
            "exec conflux-no-such-agent",
            "env X=1 conflux-no-such-agent",
        ] {
            let err = check(missing).unwrap_err();
            assert!(
                err.to_string()
                    .contains("`conflux-no-such-agent` not found"),
                "{err}"
            );
        }
        let err = check("~/bin/missing").unwrap_err();
        assert!(
            err.to_string().contains("bin/missing does not exist"),
            "{err}"
        );
        for untold in [
            "cd sub && agent",
            "$AGENT --x",
            "\"${AGENT}\" --x",
            "if true; then agent; fi",
            "{ agent; }",
            ". ./env.sh && agent",
            "./agent.sh",
            "env --chdir=x agent",
            "(agent)",
        ] {
            assert_eq!(check(untold).unwrap(), None, "{untold}");
        }
        assert!(matches!(check("A=1 exec"), Err(Error::EmptyCommand)));
    }
}
