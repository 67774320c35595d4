//! Agents' output streams turned into readable lines.

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
}

/// What a run cost and produced, as far as the stream says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub cost_usd: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
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
}

/// Decodes one agent's stdout, line by line.
#[derive(Debug)]
pub struct Decoder {
    format: StreamFormat,
    usage: Usage,
}

impl Decoder {
    pub fn new(format: StreamFormat) -> Self {
        Decoder {
            format,
            usage: Usage::default(),
        }
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Decodes one line (without its newline).
    pub fn decode(&mut self, line: &str) -> Decoded {
        match self.format {
            StreamFormat::Text
            | StreamFormat::Claude
            | StreamFormat::Codex
            | StreamFormat::Gemini
            | StreamFormat::Opencode => Decoded {
                lines: vec![line.to_owned()],
                usage_changed: false,
            },
        }
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
            turns: add(self.turns, later.turns),
            duration: add(self.duration, later.duration),
            final_text: later.final_text.clone().or_else(|| self.final_text.clone()),
        }
    }
}
