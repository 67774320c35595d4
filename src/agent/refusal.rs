//! What an agent CLI's own words say about a failed run: a refusal that no retry can cure (a
//! bad API key, a login prompt, a root refusal, an unknown model), or a usage limit with the
//! time it resets. Both are read from the error lines the stream decoders report and from
//! stderr, through one table per [`StreamFormat`]: teaching conflux a CLI's message is one line.

use std::fmt;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

use super::stream::StreamFormat;

/// Why a CLI refused to work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The credentials were rejected (invalid or missing API key).
    Auth,
    /// The CLI wants an interactive login (or a trust prompt answered).
    Login,
    /// The CLI refuses to run as root.
    Root,
    /// The configured model does not exist or is not available to the account.
    UnknownModel,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Auth => "authentication",
            Cause::Login => "login",
            Cause::Root => "root",
            Cause::UnknownModel => "unknown model",
        }
    }
}

/// A refusal, in the CLI's own words, with what the user can do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The CLI (`claude`, `gemini`…).
    pub agent: &'static str,
    pub cause: Cause,
    /// The CLI's message.
    pub words: String,
    pub fix: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: {} — {}", self.agent, self.words, self.fix)
    }
}

/// A usage or quota limit, and when the CLI says it resets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageLimit {
    /// Epoch seconds.
    pub until: u64,
    /// The CLI's message.
    pub words: String,
}

/// One message of one CLI: the lowercase text it contains, and what it means.
struct Rule {
    format: StreamFormat,
    needle: &'static str,
    cause: Cause,
    fix: &'static str,
}

const CLAUDE_LOGIN: &str =
    "run `claude /login`, or set a valid ANTHROPIC_API_KEY in `env:` of .conflux.yaml";
const CLAUDE_MODEL: &str = "pick a model the account can use: `agent: {preset: claude, extra_args: \"--model …\"}` (or ANTHROPIC_MODEL in `env:`)";
const CODEX_KEY: &str =
    "set a valid OPENAI_API_KEY in `env:` of .conflux.yaml, or sign in with `codex login`";
const GEMINI_KEY: &str =
    "set a valid GEMINI_API_KEY in `env:` of .conflux.yaml, or sign in once by running `gemini`";
const GEMINI_MODEL: &str = "pick a model the key can use: GEMINI_MODEL in `env:`, or `agent: {preset: gemini, extra_args: \"--model …\"}`";

/// The refusals known per CLI, as recorded from the real CLIs (tests/fixtures/<cli>/, with
/// the version in VERSION there).
const REFUSALS: &[Rule] = &[
    // Claude Code 2.1.332: a 401 → "Invalid API key · Fix external API key"
    // (tests/fixtures/claude/auth-401.jsonl).
    Rule {
        format: StreamFormat::Claude,
        needle: "invalid api key",
        cause: Cause::Auth,
        fix: CLAUDE_LOGIN,
    },
    Rule {
        format: StreamFormat::Claude,
        needle: "please run /login",
        cause: Cause::Login,
        fix: CLAUDE_LOGIN,
    },
    Rule {
        format: StreamFormat::Claude,
        needle: "oauth token has expired",
        cause: Cause::Login,
        fix: CLAUDE_LOGIN,
    },
    // A 404 for the model (tests/fixtures/claude/unknown-model-404.jsonl).
    Rule {
        format: StreamFormat::Claude,
        needle: "issue with the selected model",
        cause: Cause::UnknownModel,
        fix: CLAUDE_MODEL,
    },
    // As root without IS_SANDBOX=1 (stderr).
    Rule {
        format: StreamFormat::Claude,
        needle: "cannot be used with root/sudo privileges",
        cause: Cause::Root,
        fix: "set `env: {IS_SANDBOX: \"1\"}` (exactly 1: yes or true do not count) if this is a sandbox or container, or run git conflux as a normal user",
    },
    // Codex CLI 0.171.0: "unexpected status 401 Unauthorized: Incorrect API key provided: …"
    // (tests/fixtures/codex/auth-401.jsonl).
    Rule {
        format: StreamFormat::Codex,
        needle: "401 unauthorized",
        cause: Cause::Auth,
        fix: CODEX_KEY,
    },
    // "The model `…` does not exist or you do not have access to it."
    // (tests/fixtures/codex/unknown-model.jsonl).
    Rule {
        format: StreamFormat::Codex,
        needle: "does not exist or you do not have access to it",
        cause: Cause::UnknownModel,
        fix: "pick a model the account can use: `agent: {preset: codex, extra_args: \"--model …\"}`",
    },
    // Gemini CLI 0.61.0: a rejected key answers 400 API_KEY_INVALID
    // (tests/fixtures/gemini/auth-400-key.jsonl), a rejected token 401
    // (tests/fixtures/gemini/auth-401.jsonl).
    Rule {
        format: StreamFormat::Gemini,
        needle: "api key not valid",
        cause: Cause::Auth,
        fix: GEMINI_KEY,
    },
    Rule {
        format: StreamFormat::Gemini,
        needle: "invalid authentication credentials",
        cause: Cause::Auth,
        fix: GEMINI_KEY,
    },
    // tests/fixtures/gemini/unknown-model-404.jsonl
    Rule {
        format: StreamFormat::Gemini,
        needle: "is not found for api version",
        cause: Cause::UnknownModel,
        fix: GEMINI_MODEL,
    },
    // OpenCode 1.18.33: the provider's own words with the status, "invalid x-api-key (HTTP
    // 401)" from an Anthropic provider (tests/fixtures/opencode/auth-401.jsonl), "Incorrect API
    // key provided" from an OpenAI one.
    Rule {
        format: StreamFormat::Opencode,
        needle: "invalid x-api-key",
        cause: Cause::Auth,
        fix: OPENCODE_KEY,
    },
    Rule {
        format: StreamFormat::Opencode,
        needle: "incorrect api key provided",
        cause: Cause::Auth,
        fix: OPENCODE_KEY,
    },
    // An unknown model is only "Unexpected server error" in the stream; the words are in the
    // error log the preset sends to stderr (tests/fixtures/opencode/unknown-model.stderr).
    Rule {
        format: StreamFormat::Opencode,
        needle: "providermodelnotfounderror",
        cause: Cause::UnknownModel,
        fix: "pick a model OpenCode knows (`opencode models` lists them): `agent: {preset: opencode, extra_args: \"--model provider/model\"}`",
    },
];

const OPENCODE_KEY: &str =
    "run `opencode auth login` for the provider, or set its API key in `env:` of .conflux.yaml";

/// The words that announce a usage limit, per CLI; each must come with a reset time that
/// [`reset_time`] can read on the same line.
const LIMITS: &[(StreamFormat, &str)] = &[
    // Claude Code 2.1.332: "API Error: Request rejected (429) · spend limit reached · resets
    // 5:03am (UTC)" (tests/fixtures/claude/spend-limit-429.jsonl); a subscription's
    // "5-hour limit reached ∙ resets 3pm", "You've hit your limit · resets 3pm (Europe/Berlin)",
    // and the older "Claude AI usage limit reached|<epoch seconds>".
    (StreamFormat::Claude, "limit reached"),
    (StreamFormat::Claude, "hit your limit"),
    // Codex CLI 0.171.0: "You’ve hit your usage limit. … or try again at 4:31 AM."
    // (tests/fixtures/codex/usage-limit.jsonl); from codex-rs/core/src/error.rs also
    // "… try again at Jan 5th, 2026 3:04 PM." and "Model … is at capacity. … Try again in 2h."
    (StreamFormat::Codex, "usage limit"),
    (StreamFormat::Codex, "at capacity"),
];

/// The CLI a stream format belongs to, as its reasons name it.
fn agent_name(format: StreamFormat) -> &'static str {
    match format {
        StreamFormat::Text => "the agent",
        StreamFormat::Claude => "claude",
        StreamFormat::Codex => "codex",
        StreamFormat::Gemini => "gemini",
        StreamFormat::Opencode => "opencode",
        StreamFormat::Aider => "aider",
    }
}

/// The refusal `line` (an error line of a CLI of `format`) reports, if it is one.
pub fn refusal(format: StreamFormat, line: &str) -> Option<Refusal> {
    let lower = line.to_lowercase();
    let rule = REFUSALS
        .iter()
        .find(|r| r.format == format && lower.contains(r.needle))?;
    Some(Refusal {
        agent: agent_name(format),
        cause: rule.cause,
        words: words(line),
        fix: rule.fix,
    })
}

/// The usage limit `line` reports, with the reset time it names (read at `now`), if it is
/// one. An HTTP `retry-after` with a number of seconds counts for every CLI.
pub fn usage_limit(format: StreamFormat, line: &str, now: &Zoned) -> Option<UsageLimit> {
    let lower = line.to_lowercase();
    let announced = LIMITS
        .iter()
        .any(|(f, needle)| *f == format && lower.contains(needle))
        || lower.contains("retry-after");
    if !announced {
        return None;
    }
    let until = reset_time(line, now)?;
    Some(UsageLimit {
        until: until.as_second().max(0) as u64,
        words: words(line),
    })
}

/// The CLI's message: the `"message"` inside an API error it prints as JSON (Gemini's
/// `[API Error: {"error":{…,"message":"…"}}]`), else the line itself.
fn words(line: &str) -> String {
    let inner = line.find("\"message\":\"").and_then(|i| {
        let rest = &line[i + "\"message\":\"".len()..];
        rest.find('"').map(|end| &rest[..end])
    });
    inner.unwrap_or(line).trim().to_owned()
}

/// When the text says the limit resets: `resets 3pm`, `resets at 5:03am (UTC)`,
/// `try again at Jan 5th, 2026 3:04 PM`, `try again in 1h 2m`, `retry-after: 30`, or a
/// `|<epoch seconds>` suffix. A clock time without a date is the next such time; times
/// are read in the zone named in parentheses, else the local one.
pub fn reset_time(text: &str, now: &Zoned) -> Option<Timestamp> {
    let lower = text.to_lowercase();
    if let Some(i) = lower.rfind('|') {
        let digits: String = lower[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.len() >= 9 {
            return Timestamp::from_second(digits.parse().ok()?).ok();
        }
    }
    for marker in [
        "try again in ",
        "retry after ",
        "retry-after: ",
        "retry-after:",
    ] {
        if let Some(i) = lower.find(marker) {
            let secs = duration_secs(&lower[i + marker.len()..])?;
            return now.timestamp().checked_add(secs.seconds()).ok();
        }
    }
    for marker in ["resets at ", "resets ", "try again at "] {
        if let Some(i) = lower.find(marker) {
            return clock_time(&text[i + marker.len()..], now);
        }
    }
    None
}

/// Seconds in `2h 5m`, `1 hour 2 minutes`, `30s`, `30` (seconds), `less than a minute`.
fn duration_secs(text: &str) -> Option<i64> {
    if text.starts_with("less than a minute") {
        return Some(60);
    }
    let mut total = 0i64;
    let mut number: Option<i64> = None;
    let mut seen = false;
    let tokens = text.split_whitespace().flat_map(split_number);
    for token in tokens {
        let token = token.trim_end_matches(['.', ',', ';', ')']);
        if let Ok(n) = token.parse::<i64>() {
            if number.replace(n).is_some() {
                break;
            }
            continue;
        }
        let unit = match token {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "and" if number.is_none() => continue,
            _ => break,
        };
        let Some(n) = number.take() else { break };
        total += n * unit;
        seen = true;
    }
    match (seen, number) {
        (true, _) => Some(total),
        // `retry-after: 30`: a bare number of seconds.
        (false, Some(n)) => Some(n),
        (false, None) => None,
    }
}

/// `2h` → `2`, `h`; `hours` → `hours`.
fn split_number(token: &str) -> Vec<&str> {
    let digits = token.len() - token.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && digits < token.len() {
        vec![&token[..digits], &token[digits..]]
    } else {
        vec![token]
    }
}

/// A date and/or clock time at the start of `text`: `3pm`, `5:03am (UTC)`, `3:04 PM`,
/// `15:04`, `Jan 5th, 2026 3:04 PM`, `Aug 8`.
fn clock_time(text: &str, now: &Zoned) -> Option<Timestamp> {
    let head: String = text.chars().take(60).collect();
    let zone = head
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(name, _)| TimeZone::get(name.trim()).ok())
        .unwrap_or_else(|| now.time_zone().clone());
    let now = now.with_time_zone(zone);
    let tokens: Vec<String> = head
        .split_whitespace()
        .map(|t| {
            t.trim_end_matches(['.', ',', ';', '·', '∙'])
                .to_ascii_lowercase()
        })
        .collect();
    let mut i = 0;
    let mut date = None;
    if let Some(month) = tokens.first().and_then(|t| month(t)) {
        let day: i8 = tokens
            .get(1)?
            .trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .parse()
            .ok()?;
        i = 2;
        let mut year = now.year();
        if let Some(y) = tokens.get(2).and_then(|t| t.parse::<i16>().ok())
            && t_is_year(y)
        {
            year = y;
            i = 3;
        }
        date = Some(Date::new(year, month, day).ok()?);
    }
    let time = tokens.get(i).and_then(|t| {
        let next = tokens.get(i + 1).map(String::as_str);
        clock(t, next)
    });
    match (date, time) {
        (None, None) => None,
        (Some(d), t) => {
            let at = d.to_datetime(t.unwrap_or(Time::midnight()));
            at.to_zoned(now.time_zone().clone())
                .ok()
                .map(|z| z.timestamp())
        }
        (None, Some(t)) => {
            let today = now
                .date()
                .to_datetime(t)
                .to_zoned(now.time_zone().clone())
                .ok()?;
            let at = today.timestamp();
            let now = now.timestamp();
            // A time shown to the minute: the reset lies within that minute.
            let minute_end = at.checked_add(60.seconds()).ok()?;
            if at > now {
                Some(at)
            } else if minute_end > now {
                Some(minute_end)
            } else {
                today.checked_add(1.day()).ok().map(|z| z.timestamp())
            }
        }
    }
}

fn t_is_year(y: i16) -> bool {
    (1970..=9999).contains(&y)
}

/// `jan` … `dec` (any longer spelling) as 1 … 12.
fn month(token: &str) -> Option<i8> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let head = token.get(..3)?;
    let rest = &token[3..];
    if !rest.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    MONTHS.iter().position(|m| *m == head).map(|i| i as i8 + 1)
}

/// `3pm`, `3:04am`, `15:04`, or `3:04` followed by `pm` as the `next` token.
fn clock(token: &str, next: Option<&str>) -> Option<Time> {
    let (digits, suffix) = match token.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&token[..i], &token[i..]),
        None => (
            token,
            next.filter(|n| matches!(*n, "am" | "pm")).unwrap_or(""),
        ),
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?),
        None if !suffix.is_empty() => (digits.parse::<i8>().ok()?, 0),
        None => return None,
    };
    let hour = match suffix {
        "am" if h == 12 => 0,
        "am" => h,
        "pm" if h == 12 => 12,
        "pm" => h + 12,
        "" => h,
        _ => return None,
    };
    Time::new(hour, m, 0, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-02 03:03:21 in UTC.
    fn now() -> Zoned {
        "2026-12-02T03:03:21+00:00[UTC]".parse().unwrap()
    }

    fn at(text: &str) -> String {
        reset_time(text, &now())
            .map(|t| t.to_zoned(TimeZone::UTC).strftime("%F %T").to_string())
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn reset_times_in_the_clis_words() {
        assert_eq!(
            at("API Error: Request rejected (429) · spend limit reached · resets 5:03am (UTC)"),
            "2026-12-02 05:03:00"
        );
        // The same minute: the reset lies within it.
        assert_eq!(
            at("spend limit reached · resets 3:03am (UTC)"),
            "2026-12-02 03:04:00"
        );
        // An earlier time of day is tomorrow's.
        assert_eq!(
            at("5-hour limit reached ∙ resets 3am"),
            "2026-12-03 03:00:00"
        );
        assert_eq!(
            at("You've hit your limit · resets 3pm"),
            "2026-12-02 15:00:00"
        );
        assert_eq!(
            at("You've hit your limit · resets 4pm (Europe/Berlin)"),
            "2026-12-02 15:00:00"
        );
        assert_eq!(
            at("Claude AI usage limit reached|1796266800"),
            "2026-12-03 03:00:00"
        );
        assert_eq!(
            at(
                "You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 3:04 PM."
            ),
            "2026-12-02 15:04:00"
        );
        assert_eq!(
            at("You've hit your usage limit. Try again at Jan 5th, 2027 3:04 PM."),
            "2027-01-05 15:04:00"
        );
        assert_eq!(
            at("spend limit reached · resets Dec 8 · request more"),
            "2026-12-08 00:00:00"
        );
        assert_eq!(
            at("Model o3 is at capacity. Try again in 2h."),
            "2026-12-02 05:03:21"
        );
        assert_eq!(at("try again in 1 hour 2 minutes"), "2026-12-02 04:05:21");
        assert_eq!(at("try again in less than a minute"), "2026-12-02 03:04:21");
        assert_eq!(at("HTTP 429, retry-after: 30"), "2026-12-02 03:03:51");
        assert_eq!(at("limit reached, try later"), "none");
    }

    #[test]
    fn usage_limits_need_the_clis_words_and_a_reset() {
        let n = now();
        let limit = usage_limit(
            StreamFormat::Claude,
            "API Error: Request rejected (429) · spend limit reached · resets 5:03am (UTC)",
            &n,
        )
        .unwrap();
        assert_eq!(limit.until, 1796187780);
        // A plain rate limit names no reset: it is retried, not waited for.
        assert_eq!(
            usage_limit(
                StreamFormat::Claude,
                "API Error: Request rejected (429) · Rate limited",
                &n
            ),
            None
        );
        // Another CLI's words are not this one's.
        assert_eq!(
            usage_limit(
                StreamFormat::Gemini,
                "You've hit your usage limit. Try again at 3:04 PM.",
                &n
            ),
            None
        );
        assert!(
            usage_limit(
                StreamFormat::Codex,
                "You've hit your usage limit. Try again at 3:04 PM.",
                &n
            )
            .is_some()
        );
    }

    #[test]
    fn refusals_name_the_cli_its_words_and_the_fix() {
        let r = refusal(StreamFormat::Claude, "Invalid API key · Please run /login").unwrap();
        assert_eq!(r.cause, Cause::Auth);
        assert_eq!(
            r.to_string(),
            "claude refused: Invalid API key · Please run /login — run `claude /login`, or set a valid ANTHROPIC_API_KEY in `env:` of .conflux.yaml"
        );
        let g = refusal(
            StreamFormat::Gemini,
            r#"[API Error: {"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}]"#,
        )
        .unwrap();
        assert_eq!(g.words, "API key not valid. Please pass a valid API key.");
        assert_eq!(refusal(StreamFormat::Codex, "Invalid API key"), None);
        assert_eq!(
            refusal(StreamFormat::Claude, "API Error: 500 Internal server error"),
            None
        );
    }
}
