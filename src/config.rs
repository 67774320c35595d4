//! Layered configuration: built-in defaults < user file < repository `.conflux.yaml` <
//! per-change front matter (`conflux:` in proposal.md) < command-line flags.
//!
//! Every layer is parsed into a [`Layer`] (all keys optional, unknown keys rejected) and laid
//! over the one before, so each key is validated once and a bad value names its file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::agent::presets::AgentSpec;
use crate::agent::prompt;
use crate::agent::runner::{Limits, RetryPolicy};
use crate::agent::template::{self, Placeholder};
use crate::run::budget::Budget;
use crate::run::sandbox;

/// The repository's configuration file, at the top of the main worktree (committed).
pub const REPO_FILE: &str = ".conflux.yaml";

/// Hook names accepted under `hooks:`.
pub const HOOK_NAMES: &[&str] = &[
    "on_start",
    "on_finish",
    "on_change_start",
    "pre_iteration",
    "post_iteration",
    "on_change_done",
    "on_change_failed",
    "on_review",
    "on_merged",
    "on_error",
];

/// Keys that apply to a whole run and so cannot be set per change.
/// `sandbox` is one of them: a change's own files (which its agent writes) never loosen it.
const RUN_WIDE_KEYS: &[&str] = &[
    "jobs",
    "stagger",
    "base",
    "worktree_root",
    "branch_prefix",
    "run_budget",
    "sandbox",
];

/// The resolved configuration every part reads.
#[derive(Clone, Debug)]
pub struct Config {
    /// None until configured (`git conflux init`, `.conflux.yaml`, or `--agent`).
    pub agent: Option<AgentSpec>,
    pub jobs: usize,
    /// A desktop notification (notify-send, osascript) when a change needs a person.
    pub notify: bool,
    pub base: Option<String>,
    pub worktree_root: Option<PathBuf>,
    pub branch_prefix: String,
    pub max_iterations: u32,
    pub stall_iterations: u32,
    pub verify: Option<String>,
    pub setup: Option<String>,
    pub copy: Vec<String>,
    pub stagger: Duration,
    pub retry: RetryPolicy,
    pub inactivity_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    pub hooks: BTreeMap<String, String>,
    pub hooks_timeout: Duration,
    pub prompt: Option<String>,
    pub archive: Option<String>,
    pub env: BTreeMap<String, String>,
    /// The review stage; off unless configured.
    pub review: Option<Review>,
    /// `merge.resolve`: what `merge` does when a change conflicts with its base.
    pub merge_resolve: Resolve,
    /// Each change's budget: once crossed, the change ends `over-budget` after its agent run.
    pub budget: Budget,
    /// The whole run's budget: once spent, no new agent run starts.
    pub run_budget: Budget,
    /// The longest an agent's usage limit is waited for; a later reset fails the change.
    pub max_wait: Duration,
    /// `sandbox:`: where the change's processes run.
    pub sandbox: sandbox::Settings,
}

/// What `merge` does with a change that conflicts with its base (`merge.resolve`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resolve {
    /// Report the conflicts and change nothing (exit 3).
    #[default]
    None,
    /// Merge the base into the change's worktree and have the change's agent resolve it.
    Agent,
}

impl Resolve {
    /// The values `merge.resolve` accepts.
    const NAMES: &[(&str, Resolve)] = &[("none", Resolve::None), ("agent", Resolve::Agent)];

    fn parse(text: &str) -> Option<Resolve> {
        Resolve::NAMES
            .iter()
            .find(|(name, _)| *name == text.trim())
            .map(|(_, value)| *value)
    }
}

/// A second agent judges each change once its tasks are ticked and verify passes.
#[derive(Clone, Debug)]
pub struct Review {
    /// None: the coder's agent.
    pub agent: Option<AgentSpec>,
    pub prompt: Option<String>,
    pub max_rounds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            agent: None,
            jobs: 4,
            notify: false,
            base: None,
            worktree_root: None,
            branch_prefix: "conflux/".into(),
            max_iterations: 10,
            stall_iterations: 3,
            verify: None,
            setup: None,
            copy: Vec::new(),
            stagger: Duration::from_secs(2),
            retry: RetryPolicy::default(),
            inactivity_timeout: Some(Duration::from_secs(15 * 60)),
            timeout: None,
            kill_grace: Duration::from_secs(10),
            hooks: BTreeMap::new(),
            hooks_timeout: Duration::from_secs(60),
            prompt: None,
            archive: None,
            env: BTreeMap::new(),
            review: None,
            merge_resolve: Resolve::None,
            budget: Budget::default(),
            run_budget: Budget::default(),
            max_wait: Duration::from_secs(6 * 3600),
            sandbox: sandbox::Settings::default(),
        }
    }
}

/// An `agent:` value; serde's own error for a value that fits no form of [`AgentSpec`]
/// names the Rust type, so it is replaced by what is wrong in the user's words.
fn agent_spec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AgentSpec>, D::Error> {
    let Some(value) = Option::<serde_json::Value>::deserialize(d)? else {
        return Ok(None);
    };
    let spec: AgentSpec = serde_json::from_value(value.clone())
        .map_err(|_| serde::de::Error::custom(agent_mistake(&value)))?;
    if let Some(name) = spec.preset_name() {
        crate::agent::presets::named(name).map_err(serde::de::Error::custom)?;
    }
    Ok(Some(spec))
}

/// A `merge.resolve` value, refused while the parser still knows where it stands.
fn resolve<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Resolve>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    Resolve::parse(&text).map(Some).ok_or_else(|| {
        let known: Vec<&str> = Resolve::NAMES.iter().map(|(name, _)| *name).collect();
        serde::de::Error::custom(format!(
            "`merge.resolve`: `{text}` is not one of: {}",
            known.join(", ")
        ))
    })
}

/// `hooks:`, whose names are refused (with the one probably meant) where they stand.
fn hooks<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let hooks = Option::<BTreeMap<String, String>>::deserialize(d)?;
    if let Some(name) = hooks
        .iter()
        .flatten()
        .map(|(name, _)| name)
        .find(|name| !HOOK_NAMES.contains(&name.as_str()))
    {
        let advice = crate::suggest::did_you_mean(name, HOOK_NAMES.iter().copied())
            .unwrap_or_else(|| format!("known hooks: {}", HOOK_NAMES.join(", ")));
        return Err(serde::de::Error::custom(format!(
            "`hooks.{name}`: unknown hook; {advice}"
        )));
    }
    Ok(hooks)
}

/// What is wrong with an `agent:` value that fits no form: within a `{command: …}` or
/// `{preset: …}` mapping, the unknown key (with the one probably meant) or the value not
/// among a field's choices; else the forms an agent may take.
fn agent_mistake(value: &serde_json::Value) -> String {
    let forms = format!(
        "agent must be a preset name ({}) or {{command: …}} (with optional format, prompt, env), or {{preset: …, extra_args: …, env: …}}",
        crate::agent::presets::PRESET_NAMES.join(", ")
    );
    let Some(map) = value.as_object() else {
        return forms;
    };
    let known: &[&str] = if map.contains_key("command") {
        &["command", "format", "prompt", "env"]
    } else if map.contains_key("preset") {
        &["preset", "extra_args", "env"]
    } else {
        return forms;
    };
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return unknown_key(key, known);
    }
    let choice = |field: &str, err: Option<serde_json::Error>| {
        let text = err?.to_string();
        let (given, choices) = serde_words(&text, "unknown variant `")?;
        Some(format!(
            "agent {field} `{given}` is not one of: {}",
            choices.join(", ")
        ))
    };
    let field = |name: &str| map.get(name).cloned().unwrap_or(serde_json::Value::Null);
    choice(
        "format",
        serde_json::from_value::<Option<crate::agent::stream::StreamFormat>>(field("format")).err(),
    )
    .or_else(|| {
        choice(
            "prompt",
            serde_json::from_value::<Option<crate::agent::presets::PromptVia>>(field("prompt"))
                .err(),
        )
    })
    .unwrap_or(forms)
}

/// One layer as written in a file: every key optional, unknown keys rejected.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[serde(default, deserialize_with = "agent_spec")]
    pub agent: Option<AgentSpec>,
    pub jobs: Option<Count<usize>>,
    pub notify: Option<bool>,
    pub base: Option<String>,
    pub worktree_root: Option<PathBuf>,
    pub branch_prefix: Option<String>,
    pub max_iterations: Option<Count<u32>>,
    pub stall_iterations: Option<Count<u32>>,
    pub verify: Option<String>,
    pub setup: Option<String>,
    pub copy: Option<Vec<String>>,
    pub stagger: Option<Dur>,
    pub retry: Option<RetryLayer>,
    pub inactivity_timeout: Option<OptDur>,
    pub timeout: Option<OptDur>,
    pub kill_grace: Option<Dur>,
    #[serde(default, deserialize_with = "hooks")]
    pub hooks: Option<BTreeMap<String, String>>,
    pub hooks_timeout: Option<Dur>,
    pub prompt: Option<String>,
    pub archive: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub review: Option<ReviewLayer>,
    pub merge: Option<MergeLayer>,
    pub max_wait: Option<Dur>,
    pub budget: Option<BudgetLayer>,
    pub run_budget: Option<BudgetLayer>,
    #[serde(default, deserialize_with = "sandbox_layer")]
    pub sandbox: Option<SandboxLayer>,
}

/// A `sandbox:` value; serde's own error for a value that fits no form names no key, so it
/// is replaced by the forms the user may write.
fn sandbox_layer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SandboxLayer>, D::Error> {
    Option::<SandboxLayer>::deserialize(d).map_err(|_| {
        serde::de::Error::custom(
            "sandbox must be bwrap, none, or {runtime: bwrap|none|podman|docker, image: …, commands: true|false, network: host|none, allow: [path, {path: …, mode: ro|rw}]}",
        )
    })
}

/// `sandbox:` as written: `bwrap`, `none`, or a map of its keys.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "SandboxRaw")]
pub struct SandboxLayer {
    /// `bwrap`, `none`, `podman` or `docker`; checked by [`Layer::validate`].
    pub runtime: Option<String>,
    pub image: Option<String>,
    pub commands: Option<bool>,
    pub allow: Option<Vec<AllowEntry>>,
    /// `host` (or `on`), or `none` (or `off`); checked by [`Layer::validate`].
    pub network: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SandboxRaw {
    Runtime(String),
    Map(SandboxMap),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxMap {
    runtime: Option<String>,
    image: Option<String>,
    commands: Option<bool>,
    allow: Option<Vec<AllowEntry>>,
    #[serde(default, deserialize_with = "network_word")]
    network: Option<String>,
}

impl From<SandboxRaw> for SandboxLayer {
    fn from(raw: SandboxRaw) -> Self {
        match raw {
            SandboxRaw::Runtime(runtime) => SandboxLayer {
                runtime: Some(runtime),
                ..SandboxLayer::default()
            },
            SandboxRaw::Map(m) => SandboxLayer {
                runtime: m.runtime,
                image: m.image,
                commands: m.commands,
                allow: m.allow,
                network: m.network,
            },
        }
    }
}

/// YAML 1.1 reads `on`/`off` as booleans: they mean `host` and `none`.
fn network_word<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Word {
        Bool(bool),
        Text(String),
    }
    Ok(Option::<Word>::deserialize(d)?.map(|w| match w {
        Word::Bool(true) => "host".to_owned(),
        Word::Bool(false) => "none".to_owned(),
        Word::Text(t) => t,
    }))
}

/// One `sandbox.allow` entry: a path (read-only), or `{path: …, mode: ro|rw}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum AllowEntry {
    ReadOnly(String),
    Entry {
        path: String,
        #[serde(default)]
        mode: Option<String>,
    },
}

impl AllowEntry {
    fn path(&self) -> &str {
        match self {
            AllowEntry::ReadOnly(path) | AllowEntry::Entry { path, .. } => path,
        }
    }

    fn mode(&self) -> Option<&str> {
        match self {
            AllowEntry::ReadOnly(_) => None,
            AllowEntry::Entry { mode, .. } => mode.as_deref(),
        }
    }
}

/// `budget:` / `run_budget:`; each part layers on its own.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetLayer {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
}

impl BudgetLayer {
    /// Why this budget cannot be, naming the key's part; a budget of nothing is refused
    /// rather than read as "no spending".
    fn check(&self, key: &str) -> Result<(), (String, &'static str)> {
        if self.usd.is_some_and(|usd| !usd.is_finite() || usd <= 0.0) {
            return Err((
                format!("{key}.usd"),
                "must be a number of US dollars above 0, such as 2.50",
            ));
        }
        if self.tokens == Some(0) {
            return Err((
                format!("{key}.tokens"),
                "must be a number of tokens above 0, such as 2000000",
            ));
        }
        Ok(())
    }

    fn lay_over(self, budget: &mut Budget) {
        budget.usd = self.usd.or(budget.usd);
        budget.tokens = self.tokens.or(budget.tokens);
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeLayer {
    #[serde(default, deserialize_with = "resolve")]
    pub resolve: Option<Resolve>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewLayer {
    #[serde(default, deserialize_with = "agent_spec")]
    pub agent: Option<AgentSpec>,
    pub prompt: Option<String>,
    pub max_rounds: Option<Count<u32>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryLayer {
    pub max: Option<u32>,
    pub delay: Option<Dur>,
    pub max_delay: Option<Dur>,
    pub patterns: Option<Vec<String>>,
    pub min_runtime: Option<Dur>,
    pub timeout_retries: Option<u32>,
}

/// A duration written with its unit, like `90s`, `15m` or `1h 30m` (`0` needs none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// A duration that may be switched off with `off`, `none` or `0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptDur(pub Option<Duration>);

/// The longest duration any setting takes: longer ones are typos, and near `u64::MAX`
/// seconds they would overflow the clock arithmetic of timers.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses `90s`, `15m`, `2h` or `1h 30m`, up to [`MAX_DURATION`]. A number without a unit
/// is refused (`15` once meant 15 seconds where 15 minutes was meant, and killed healthy
/// agents); only `0` needs none.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text != "0" && text.parse::<f64>().is_ok() {
        return Err(format!("`{text}` has no unit: write {text}s or {text}m"));
    }
    let duration = humantime::parse_duration(text)
        .map_err(|_| format!("`{text}` is not a duration; write it like 90s, 15m or 1h 30m"))?;
    if duration > MAX_DURATION {
        return Err(format!(
            "`{text}` is longer than the longest duration a setting takes (7 days)"
        ));
    }
    Ok(duration)
}

/// Reads a duration from any YAML or JSON scalar, so a bare number is refused with the
/// unit to add rather than with the parser's own words; `off` (false) only where allowed.
struct DurationVisitor {
    may_be_off: bool,
}

impl DurationVisitor {
    fn expected(&self) -> &'static str {
        if self.may_be_off {
            "expected a duration with a unit such as 15m, or `off`"
        } else {
            "expected a duration with a unit such as 15m"
        }
    }
}

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.expected())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Duration, E> {
        match (v, self.may_be_off) {
            (false, true) => Ok(Duration::ZERO),
            _ => Err(E::custom(self.expected())),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        parse_duration(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        parse_duration(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        parse_duration(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        match v.trim() {
            "off" | "none" | "never" if self.may_be_off => Ok(Duration::ZERO),
            text => parse_duration(text).map_err(E::custom),
        }
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Duration, E> {
        Err(E::custom(self.expected()))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor { may_be_off: false })
            .map(Dur)
    }
}

impl<'de> Deserialize<'de> for OptDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let d = d.deserialize_any(DurationVisitor { may_be_off: true })?;
        Ok(OptDur((!d.is_zero()).then_some(d)))
    }
}

/// A count that must be a whole number of at least 1 (`jobs`, `max_iterations`, …), read
/// from any scalar so a wrong one says so in those words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count<T>(pub T);

struct CountVisitor<T>(std::marker::PhantomData<T>);

const COUNT_EXPECTED: &str = "expected a whole number ≥ 1";

impl<T: TryFrom<u64>> serde::de::Visitor<'_> for CountVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(COUNT_EXPECTED)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        match T::try_from(v) {
            Ok(n) if v >= 1 => Ok(n),
            _ => Err(E::custom(format!("{COUNT_EXPECTED}, not `{v}`"))),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("{COUNT_EXPECTED}, not `{v}`"))),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
        Err(E::custom(format!("{COUNT_EXPECTED}, not `{v}`")))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        Err(E::custom(format!("{COUNT_EXPECTED}, not `{v}`")))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<T, E> {
        Err(E::custom(format!("{COUNT_EXPECTED}, not `{v}`")))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        Err(E::custom(COUNT_EXPECTED))
    }
}

impl<'de, T: TryFrom<u64>> Deserialize<'de> for Count<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor(std::marker::PhantomData))
            .map(Count)
    }
}

/// Why a configuration could not be loaded; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] crate::files::Error),
    #[error("{}: {message}", place(path, *at))]
    Parse {
        path: PathBuf,
        /// Line and column, when the parser knows them.
        at: Option<(u32, u32)>,
        message: String,
    },
    #[error("the key `{key}` appears twice in {path} line {line}; keep one of them")]
    DuplicateKey {
        path: PathBuf,
        key: String,
        line: usize,
    },
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl Layer {
    /// Parses one YAML file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Layer, Error> {
        if text.trim().is_empty() {
            return Ok(Layer::default());
        }
        let layer: Option<Layer> = serde_saphyr::from_str(text).map_err(|e| {
            if let serde_saphyr::Error::DuplicateMappingKey { key, location } = e.without_snippet()
            {
                return Error::DuplicateKey {
                    path: origin.to_owned(),
                    key: key.clone().unwrap_or_else(|| "?".to_owned()),
                    line: location.line() as usize,
                };
            }
            Error::Parse {
                path: origin.to_owned(),
                at: e.location().map(|l| (l.line() as u32, l.column() as u32)),
                message: yaml_text(&e),
            }
        })?;
        let layer = layer.unwrap_or_default();
        layer.validate(origin)?;
        Ok(layer)
    }

    /// Reads a layer from a file that may be absent; with `inside`, the file must not lead
    /// out of that folder (the repository's file is confined to the repository, the user's
    /// own file may be a link into their dotfiles). Special files are never opened.
    pub fn load(path: &Path, inside: Option<&Path>) -> Result<Option<Layer>, Error> {
        let Some(bytes) = crate::files::read(path, inside)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| Error::Parse {
            path: path.to_owned(),
            at: None,
            message: "not valid UTF-8: save it as UTF-8".into(),
        })?;
        Layer::parse(&text, path).map(Some)
    }

    /// The `conflux:` key of a change's front matter; run-wide keys are refused there.
    pub fn from_front_matter(value: &serde_json::Value, origin: &Path) -> Result<Layer, Error> {
        if let Some(map) = value.as_object()
            && let Some(key) = map.keys().find(|k| RUN_WIDE_KEYS.contains(&k.as_str()))
        {
            return Err(Error::Invalid {
                    path: origin.to_owned(),
                    key: format!("conflux.{key}"),
                    message: "applies to a whole run and cannot be set per change; set it in .conflux.yaml or on the command line".into(),
                });
        }
        let layer: Layer = serde_json::from_value(value.clone()).map_err(|e| Error::Parse {
            path: origin.to_owned(),
            at: None,
            message: format!("in front matter `conflux:`: {}", json_text(&e)),
        })?;
        layer.validate(origin)?;
        Ok(layer)
    }

    fn validate(&self, origin: &Path) -> Result<(), Error> {
        let invalid = |key: &str, message: &str| Error::Invalid {
            path: origin.to_owned(),
            key: key.into(),
            message: message.into(),
        };
        for (key, budget) in [("budget", &self.budget), ("run_budget", &self.run_budget)] {
            if let Some(Err((key, why))) = budget.map(|b| b.check(key)) {
                return Err(invalid(&key, why));
            }
        }
        if let Some(prefix) = &self.branch_prefix {
            check_branch_prefix(prefix).map_err(|why| invalid("branch_prefix", &why))?;
        }
        if let Some(layer) = &self.sandbox {
            layer.validate().map_err(|(key, why)| invalid(&key, &why))?;
        }
        for (key, text, known) in [
            (
                "prompt",
                self.prompt.as_deref(),
                &prompt::PROMPT_PLACEHOLDERS[..],
            ),
            (
                "review.prompt",
                self.review.as_ref().and_then(|r| r.prompt.as_deref()),
                &prompt::REVIEW_PLACEHOLDERS[..],
            ),
        ] {
            if let Some(text) = text {
                prompt::check(text, known).map_err(|why| invalid(key, &why))?;
            }
        }
        for (key, command, known) in self.commands() {
            template::expand(command, known).map_err(|e| invalid(&key, &e.to_string()))?;
        }
        Ok(())
    }

    /// Every shell command of this layer, with its key and the placeholders it may use.
    fn commands(&self) -> Vec<(String, &str, &'static [Placeholder])> {
        let agents = [
            ("agent", self.agent.as_ref()),
            (
                "review.agent",
                self.review.as_ref().and_then(|r| r.agent.as_ref()),
            ),
        ];
        let mut out: Vec<(String, &str, &'static [Placeholder])> = agents
            .into_iter()
            .filter_map(|(key, spec)| {
                let (field, text) = spec?.template_field()?;
                Some((format!("{key}.{field}"), text, template::AGENT))
            })
            .collect();
        for (key, command) in [
            ("verify", &self.verify),
            ("setup", &self.setup),
            ("archive", &self.archive),
        ] {
            if let Some(command) = command {
                out.push((key.to_owned(), command, template::STEP));
            }
        }
        for (name, command) in self.hooks.iter().flatten() {
            out.push((format!("hooks.{name}"), command, template::HOOK));
        }
        out
    }
}

impl SandboxLayer {
    /// The runtime names `sandbox.runtime` (or `sandbox:` alone) accepts.
    const RUNTIMES: &[&str] = &["bwrap", "none", "podman", "docker"];
    const NETWORKS: &[&str] = &["host", "none"];

    /// Checks each key on its own; a container runtime without an image is found by the
    /// preflight, since the image may come from another layer.
    fn validate(&self) -> Result<(), (String, String)> {
        if let Some(runtime) = &self.runtime
            && !Self::RUNTIMES.contains(&runtime.as_str())
        {
            return Err((
                "sandbox".into(),
                format!("`{runtime}` is not one of: {}", Self::RUNTIMES.join(", ")),
            ));
        }
        if let Some(network) = &self.network
            && !Self::NETWORKS.contains(&network.as_str())
        {
            return Err((
                "sandbox.network".into(),
                format!("`{network}` is not one of: {}", Self::NETWORKS.join(", ")),
            ));
        }
        for entry in self.allow.iter().flatten() {
            sandbox::check_allow_path(entry.path()).map_err(|why| ("sandbox.allow".into(), why))?;
            if let Some(mode) = entry.mode()
                && !matches!(mode, "ro" | "rw")
            {
                return Err((
                    "sandbox.allow".into(),
                    format!("mode `{mode}` of {} is not one of: ro, rw", entry.path()),
                ));
            }
        }
        Ok(())
    }

    /// Lays this layer over `settings`, key by key; `allow` lists add up.
    fn apply_to(self, settings: &mut sandbox::Settings) {
        let image = self.image.or_else(|| match &settings.kind {
            sandbox::Kind::Container { image, .. } => Some(image.clone()),
            _ => None,
        });
        let runtime = self.runtime.or_else(|| match &settings.kind {
            sandbox::Kind::None => None,
            sandbox::Kind::Bwrap => Some("bwrap".into()),
            sandbox::Kind::Container { runtime, .. } => Some(runtime.program().into()),
        });
        settings.kind = match runtime.as_deref() {
            Some("bwrap") => sandbox::Kind::Bwrap,
            Some(name @ ("podman" | "docker")) => sandbox::Kind::Container {
                runtime: if name == "podman" {
                    sandbox::Runtime::Podman
                } else {
                    sandbox::Runtime::Docker
                },
                image: image.unwrap_or_default(),
            },
            _ => sandbox::Kind::None,
        };
        if let Some(commands) = self.commands {
            settings.commands = commands;
        }
        if let Some(network) = self.network {
            settings.network = if network == "none" {
                sandbox::Network::None
            } else {
                sandbox::Network::Host
            };
        }
        settings.allow.extend(
            self.allow
                .into_iter()
                .flatten()
                .map(|entry| sandbox::Allow {
                    write: entry.mode() == Some("rw"),
                    path: entry.path().to_owned(),
                }),
        );
    }
}

/// A branch prefix is good when every branch it makes (`<prefix><id>`) is a valid ref name by
/// git's rules; checked with the shortest id, `a`.
fn check_branch_prefix(prefix: &str) -> Result<(), String> {
    let example = format!("{prefix}a");
    if prefix.is_empty() || prefix.contains(char::is_whitespace) {
        return Err(format!(
            "`{prefix}` must be a non-empty ref prefix without spaces, such as `conflux/`"
        ));
    }
    crate::git::branch::check_name(&example).map_err(|e| {
        let cause = std::error::Error::source(&e).map_or(String::new(), |c| format!(" ({c})"));
        format!(
            "`{prefix}` makes branch names git refuses, such as `{example}`{cause}; use a prefix such as `conflux/`"
        )
    })
}

/// `file:line:column`, as compilers and git name a place in a file, or the file alone.
fn place(path: &Path, at: Option<(u32, u32)>) -> String {
    match at {
        Some((line, column)) => format!("{}:{line}:{column}", path.display()),
        None => path.display().to_string(),
    }
}

/// An unknown key, with the known key it is probably a typo of, else the keys allowed there.
fn unknown_key(key: &str, known: &[&str]) -> String {
    let advice = crate::suggest::did_you_mean(key, known.iter().copied())
        .unwrap_or_else(|| format!("the keys here are {}", known.join(", ")));
    format!("unknown key `{key}`; {advice}")
}

/// What a value of a Rust type must look like, in the words of someone writing YAML.
fn expected_words(ty: &str) -> Option<&'static str> {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" => Some("expected a whole number such as 3"),
        "bool" | "boolean" => Some("expected true or false"),
        _ => None,
    }
}

/// serde_json's message for a front matter layer, with an unknown key in the same words as
/// in a YAML file (serde writes "unknown field `x`, expected one of `a`, `b`").
fn json_text(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match serde_words(&text, "unknown field `") {
        Some((key, known)) => unknown_key(key, &known),
        None => text,
    }
}

/// The backquoted words of a serde message that starts with `prefix` ("unknown field `x`,
/// expected one of `a`, `b`"): the word given, then the words serde expected.
fn serde_words<'a>(text: &'a str, prefix: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let mut quoted = text.strip_prefix(prefix)?.split('`').step_by(2);
    let given = quoted.next()?;
    Some((given, quoted.filter(|w| !w.trim().is_empty()).collect()))
}

/// The YAML error's message alone, on one line: without its location (the caller names it
/// with the file) and without the parser's source excerpt, which names the file `<input>`
/// and repeats the message.
pub(crate) fn yaml_text(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter as _;
    let mut inner = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    let text = match inner {
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => unknown_key(field, expected),
        // The parser's words for a scalar where a list or a mapping belongs.
        serde_saphyr::Error::Unexpected {
            expected: "sequence start",
            ..
        } => "expected a list such as [a, b]".to_owned(),
        serde_saphyr::Error::Unexpected {
            expected: "mapping start",
            ..
        } => "expected a mapping such as {KEY: value}".to_owned(),
        serde_saphyr::Error::InvalidScalar { ty, .. } if expected_words(ty).is_some() => {
            expected_words(ty).unwrap_or_default().to_owned()
        }
        serde_saphyr::Error::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => match expected_words(expected) {
            Some(words) => format!("{words}, not a {unexpected}"),
            // A visitor of ours already words it "expected …".
            None if expected.starts_with("expected ") => format!("{expected}, not a {unexpected}"),
            None => format!("expected {expected}, not a {unexpected}"),
        },
        other => serde_saphyr::DefaultMessageFormatter
            .format_message(other)
            .into_owned(),
    };
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Config {
    /// The limits of one process of a change: agents get the inactivity timeout, our own
    /// commands (setup, verify, archive) only the overall one.
    pub fn limits(&self, agent: bool) -> Limits {
        Limits {
            inactivity_timeout: self.inactivity_timeout.filter(|_| agent),
            timeout: self.timeout,
            kill_grace: self.kill_grace,
        }
    }

    /// Whether `branch` is a change's own branch (`<branch_prefix><id>`), which is never a
    /// base: a change started on it, and merged into it, would never reach the real base.
    pub fn is_change_branch(&self, branch: &str) -> bool {
        branch
            .strip_prefix(&self.branch_prefix)
            .is_some_and(|id| crate::change::id::validate_id(id).is_ok())
    }

    /// Lays `layer` over this configuration.
    pub fn apply(&mut self, layer: Layer) {
        fn set<T>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        if layer.agent.is_some() {
            self.agent = layer.agent;
        }
        set(&mut self.jobs, layer.jobs.map(|n| n.0));
        set(&mut self.notify, layer.notify);
        if layer.base.is_some() {
            self.base = layer.base;
        }
        if layer.worktree_root.is_some() {
            self.worktree_root = layer.worktree_root;
        }
        set(&mut self.branch_prefix, layer.branch_prefix);
        set(&mut self.max_iterations, layer.max_iterations.map(|n| n.0));
        set(
            &mut self.stall_iterations,
            layer.stall_iterations.map(|n| n.0),
        );
        if layer.verify.is_some() {
            self.verify = layer.verify.filter(|v| !v.trim().is_empty());
        }
        if layer.setup.is_some() {
            self.setup = layer.setup.filter(|v| !v.trim().is_empty());
        }
        set(&mut self.copy, layer.copy);
        set(&mut self.stagger, layer.stagger.map(|d| d.0));
        if let Some(r) = layer.retry {
            set(&mut self.retry.max, r.max);
            set(&mut self.retry.delay, r.delay.map(|d| d.0));
            set(&mut self.retry.max_delay, r.max_delay.map(|d| d.0));
            set(&mut self.retry.patterns, r.patterns);
            set(&mut self.retry.min_runtime, r.min_runtime.map(|d| d.0));
            set(&mut self.retry.timeout_retries, r.timeout_retries);
        }
        set(
            &mut self.inactivity_timeout,
            layer.inactivity_timeout.map(|d| d.0),
        );
        set(&mut self.timeout, layer.timeout.map(|d| d.0));
        set(&mut self.kill_grace, layer.kill_grace.map(|d| d.0));
        set(&mut self.max_wait, layer.max_wait.map(|d| d.0));
        if let Some(hooks) = layer.hooks {
            self.hooks.extend(hooks);
        }
        set(&mut self.hooks_timeout, layer.hooks_timeout.map(|d| d.0));
        if layer.prompt.is_some() {
            self.prompt = layer.prompt;
        }
        if layer.archive.is_some() {
            self.archive = layer.archive.filter(|v| !v.trim().is_empty());
        }
        if let Some(env) = layer.env {
            self.env.extend(env);
        }
        if let Some(resolve) = layer.merge.and_then(|m| m.resolve) {
            self.merge_resolve = resolve;
        }
        if let Some(b) = layer.budget {
            b.lay_over(&mut self.budget);
        }
        if let Some(b) = layer.run_budget {
            b.lay_over(&mut self.run_budget);
        }
        if let Some(layer) = layer.sandbox {
            layer.apply_to(&mut self.sandbox);
        }
        if let Some(r) = layer.review {
            let review = self.review.get_or_insert(Review {
                agent: None,
                prompt: None,
                max_rounds: 3,
            });
            if r.agent.is_some() {
                review.agent = r.agent;
            }
            if r.prompt.is_some() {
                review.prompt = r.prompt;
            }
            set(&mut review.max_rounds, r.max_rounds.map(|n| n.0));
        }
    }

    /// Defaults < user file < the repository's `.conflux.yaml`.
    pub fn load(repo_root: &Path) -> Result<Config, Error> {
        let mut config = Config::default();
        if let Some(path) = user_config_path()
            && let Some(layer) = Layer::load(&path, None)?
        {
            config.apply(layer);
        }
        if let Some(layer) = Layer::load(&repo_root.join(REPO_FILE), Some(repo_root))? {
            config.apply(layer);
        }
        Ok(config)
    }

    /// This configuration with a change's front matter laid over it.
    pub fn for_change(
        &self,
        front_matter: Option<&serde_json::Value>,
        origin: &Path,
    ) -> Result<Config, Error> {
        let mut config = self.clone();
        if let Some(value) = front_matter {
            config.apply(Layer::from_front_matter(value, origin)?);
        }
        Ok(config)
    }
}

/// `$XDG_CONFIG_HOME/conflux/config.yaml`, else `~/.config/conflux/config.yaml`.
pub fn user_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("conflux").join("config.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Layer, Error> {
        Layer::parse(text, Path::new(".conflux.yaml"))
    }

    #[test]
    fn layers_apply_in_order() {
        let mut c = Config::default();
        c.apply(parse("jobs: 2\nstagger: 5s\nretry: {max: 1}\n").unwrap());
        c.apply(parse("jobs: 6\ninactivity_timeout: off\n").unwrap());
        assert_eq!(c.jobs, 6);
        assert_eq!(c.stagger, Duration::from_secs(5));
        assert_eq!(c.retry.max, 1);
        assert_eq!(c.retry.delay, RetryPolicy::default().delay);
        assert_eq!(c.inactivity_timeout, None);
    }

    #[test]
    fn unknown_key_names_key_and_position() {
        let err = parse("jobs: 2\nagnet: claude\n").unwrap_err().to_string();
        assert!(err.contains(".conflux.yaml"), "{err}");
        assert!(err.contains("agnet"), "{err}");
        assert!(
            err.contains(".conflux.yaml:2:1: unknown key `agnet`; did you mean `agent`?"),
            "{err}"
        );
    }

    /// `inactivity_timeout: 15` once meant 15 seconds where 15 minutes was meant; every
    /// duration key, in a file or in front matter, now wants its unit.
    #[test]
    fn a_duration_without_a_unit_is_refused_with_the_unit_to_add() {
        for text in [
            "inactivity_timeout: 15\n",
            "stagger: 15\n",
            "retry: {delay: 15}\n",
            "kill_grace: 15\n",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains("`15` has no unit: write 15s or 15m"),
                "{text}: {err}"
            );
        }
        let origin = Path::new("openspec/changes/a/proposal.md");
        let err = Layer::from_front_matter(&serde_json::json!({"timeout": 90}), origin)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`90` has no unit"), "{err}");
        let mut c = Config::default();
        c.apply(parse("inactivity_timeout: 0\nstagger: 0\nkill_grace: 15s\n").unwrap());
        assert_eq!(c.inactivity_timeout, None);
        assert_eq!(c.stagger, Duration::ZERO);
        assert_eq!(c.kill_grace, Duration::from_secs(15));
    }

    /// Counts, presets and keys are explained in the user's words, with the likely meaning.
    #[test]
    fn wrong_values_say_what_is_expected_and_what_was_meant() {
        let cases = [
            (
                "jobs: x\n",
                ".conflux.yaml:1:7: expected a whole number ≥ 1, not `x`",
            ),
            ("jobs: 0\n", "expected a whole number ≥ 1, not `0`"),
            (
                "max_iterations: -2\n",
                "expected a whole number ≥ 1, not `-2`",
            ),
            ("retry: {max: x}\n", "expected a whole number such as 3"),
            ("job: 3\n", "unknown key `job`; did you mean `jobs`?"),
            (
                "agent: claud\n",
                "unknown agent preset `claud`; did you mean `claude`?",
            ),
            ("notify: 3\n", "expected true or false"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(
                !err.contains("invalid u") && !err.contains("<input>"),
                "{err}"
            );
        }
        let origin = Path::new("openspec/changes/a/proposal.md");
        let err = Layer::from_front_matter(&serde_json::json!({"veriffy": "x"}), origin)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key `veriffy`; did you mean `verify`?"),
            "{err}"
        );
    }

    #[test]
    fn a_duplicate_key_is_named_in_the_users_words() {
        let err = parse("jobs: 2\nverify: x\njobs: 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the key `jobs` appears twice in .conflux.yaml line 3"),
            "{err}"
        );
        assert!(!err.contains("DuplicateKeyPolicy"), "{err}");
    }

    #[test]
    fn a_bad_agent_value_says_what_an_agent_may_be() {
        for text in ["agent: 42\n", "agent: {comand: x}\n", "agent: [claude]\n"] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains("agent must be a preset name (claude, codex,"),
                "{text}: {err}"
            );
            assert!(err.contains("or {command: …}"), "{text}: {err}");
            assert!(!err.contains("untagged"), "{text}: {err}");
            assert!(!err.contains("AgentSpec"), "{text}: {err}");
        }
        let err = parse("review: {agent: 7}\n").unwrap_err().to_string();
        assert!(err.contains("agent must be a preset name"), "{err}");
    }

    #[test]
    fn malformed_yaml_names_line_and_column() {
        let err = parse("verify: x\njobs: [1, 2\n").unwrap_err().to_string();
        assert!(err.contains(".conflux.yaml:2:"), "{err}");
    }

    #[test]
    fn bad_duration_is_explained() {
        let err = parse("stagger: soon\n").unwrap_err().to_string();
        assert!(err.contains("soon"), "{err}");
        assert!(err.contains("15m"), "{err}");
    }

    #[test]
    fn zero_jobs_rejected() {
        let err = parse("jobs: 0\n").unwrap_err().to_string();
        assert!(
            err.contains(".conflux.yaml:1:7: expected a whole number ≥ 1"),
            "{err}"
        );
    }

    #[test]
    fn unknown_hook_rejected() {
        let err = parse("hooks: {on_sart: echo}\n").unwrap_err().to_string();
        assert!(err.contains("hooks.on_sart"), "{err}");
    }

    #[test]
    fn front_matter_layer_rejects_run_wide_keys_and_unknown_keys() {
        let origin = Path::new("openspec/changes/a/proposal.md");
        let err = Layer::from_front_matter(&serde_json::json!({"jobs": 3}), origin)
            .unwrap_err()
            .to_string();
        assert!(err.contains("conflux.jobs"), "{err}");
        let err = Layer::from_front_matter(&serde_json::json!({"veriffy": "x"}), origin)
            .unwrap_err()
            .to_string();
        assert!(err.contains("veriffy"), "{err}");
        let layer = Layer::from_front_matter(
            &serde_json::json!({"max_iterations": 3, "kill_grace": "1s"}),
            origin,
        )
        .unwrap();
        let c = Config::default().for_change(None, origin).unwrap();
        assert_eq!(c.max_iterations, 10);
        let mut c = Config::default();
        c.apply(layer);
        assert_eq!(
            (c.max_iterations, c.kill_grace),
            (3, Duration::from_secs(1))
        );
    }

    #[test]
    fn merge_resolve_is_validated_and_layered() {
        let mut c = Config::default();
        assert_eq!(c.merge_resolve, Resolve::None);
        c.apply(parse("merge: {resolve: agent}\n").unwrap());
        assert_eq!(c.merge_resolve, Resolve::Agent);
        c.apply(parse("merge: {resolve: none}\n").unwrap());
        assert_eq!(c.merge_resolve, Resolve::None);
        let err = parse("merge: {resolve: robot}\n").unwrap_err().to_string();
        assert!(
            err.contains("merge.resolve") && err.contains("robot"),
            "{err}"
        );
        assert!(err.contains("none, agent"), "{err}");
        let err = parse("merge: {resolv: agent}\n").unwrap_err().to_string();
        assert!(err.contains("resolv"), "{err}");
    }

    #[test]
    fn budgets_layer_part_by_part_and_refuse_nothing() {
        let mut c = Config::default();
        c.apply(parse("budget: {usd: 2.5, tokens: 1000}\nrun_budget: {usd: 10}\n").unwrap());
        let origin = Path::new("openspec/changes/a/proposal.md");
        let c = c
            .for_change(Some(&serde_json::json!({"budget": {"usd": 4}})), origin)
            .unwrap();
        assert_eq!((c.budget.usd, c.budget.tokens), (Some(4.0), Some(1000)));
        assert_eq!(c.run_budget.usd, Some(10.0));
        let err = Layer::from_front_matter(&serde_json::json!({"run_budget": {"usd": 1}}), origin)
            .unwrap_err()
            .to_string();
        assert!(err.contains("conflux.run_budget"), "{err}");
        for (text, key) in [
            ("budget: {usd: 0}\n", "`budget.usd`"),
            ("budget: {usd: -1}\n", "`budget.usd`"),
            ("run_budget: {tokens: 0}\n", "`run_budget.tokens`"),
            ("budget: {dollars: 3}\n", "dollars"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn sandbox_keys_are_layered_and_validated() {
        use crate::run::sandbox::{Allow, Kind, Network, Runtime};
        let mut c = Config::default();
        assert_eq!(c.sandbox.kind, Kind::None);
        c.apply(parse("sandbox: bwrap\n").unwrap());
        assert_eq!(c.sandbox.kind, Kind::Bwrap);
        c.apply(parse("sandbox: {network: none, commands: true, allow: [~/.cargo, {path: /opt/x, mode: rw}]}\n").unwrap());
        assert_eq!(
            c.sandbox.kind,
            Kind::Bwrap,
            "a layer without runtime keeps it"
        );
        assert_eq!(c.sandbox.network, Network::None);
        assert!(c.sandbox.commands);
        assert_eq!(
            c.sandbox.allow,
            [
                Allow {
                    path: "~/.cargo".into(),
                    write: false
                },
                Allow {
                    path: "/opt/x".into(),
                    write: true
                },
            ]
        );
        c.apply(parse("sandbox: {runtime: podman, image: agents:1, network: on}\n").unwrap());
        assert_eq!(
            c.sandbox.kind,
            Kind::Container {
                runtime: Runtime::Podman,
                image: "agents:1".into()
            }
        );
        assert_eq!(c.sandbox.network, Network::Host);
        c.apply(parse("sandbox: none\n").unwrap());
        assert_eq!(c.sandbox.kind, Kind::None);
        for (text, needle) in [
            (
                "sandbox: firejail\n",
                "`firejail` is not one of: bwrap, none, podman, docker",
            ),
            ("sandbox: {network: wifi}\n", "sandbox.network"),
            (
                "sandbox: {allow: [relative/dir]}\n",
                "must be an absolute path or start with ~/",
            ),
            ("sandbox: {allow: [{path: /x, mode: rwx}]}\n", "mode `rwx`"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        for text in ["sandbox: {runtim: bwrap}\n", "sandbox: 42\n"] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains("sandbox must be bwrap, none, or {runtime:"),
                "{err}"
            );
        }
        let origin = Path::new("openspec/changes/a/proposal.md");
        let err = Layer::from_front_matter(&serde_json::json!({"sandbox": "none"}), origin)
            .unwrap_err()
            .to_string();
        assert!(err.contains("conflux.sandbox"), "{err}");
    }

    #[test]
    fn empty_file_is_no_layer() {
        assert!(parse("").unwrap().jobs.is_none());
        assert!(parse("# only a comment\n").unwrap().jobs.is_none());
    }
}
