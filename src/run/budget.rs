//! Money: what agent runs spent (tokens, and USD where the CLI reports a cost — never a price
//! of ours), and the budgets that stop new spending once crossed (`budget` per change,
//! `run_budget` for a whole run).

use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::agent::stream::Usage;
use crate::run::state::{self, RunDir};

/// Token counts, split as providers bill them (see [`Usage`]): `input` is the uncached input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    #[serde(default)]
    pub input: u64,
    #[serde(default)]
    pub output: u64,
    #[serde(default)]
    pub cache_read: u64,
    #[serde(default)]
    pub cache_write: u64,
}

impl Tokens {
    /// What a token budget counts: input, output and cache writes. Cache reads are left out:
    /// they cost a tenth of input or less, and a long session re-reads its whole context on
    /// every turn, so counting them would end changes long before they cost much.
    pub fn counted(&self) -> u64 {
        self.input + self.output + self.cache_write
    }

    fn is_zero(&self) -> bool {
        *self == Tokens::default()
    }
}

/// What agent runs spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    /// The CLI's own cost figure; None when it reports none.
    #[serde(default)]
    pub usd: Option<f64>,
    #[serde(default)]
    pub tokens: Tokens,
}

impl Spend {
    /// What one agent run reported, or None when it reported nothing.
    pub fn of(usage: &Usage) -> Option<Spend> {
        let n = |v: Option<u64>| v.unwrap_or(0);
        let spend = Spend {
            usd: usage.cost_usd,
            tokens: Tokens {
                input: n(usage.input_tokens),
                output: n(usage.output_tokens),
                cache_read: n(usage.cache_read_tokens),
                cache_write: n(usage.cache_write_tokens),
            },
        };
        (spend.usd.is_some() || !spend.tokens.is_zero()).then_some(spend)
    }

    pub fn plus(&self, more: &Spend) -> Spend {
        let usd = match (self.usd, more.usd) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let (a, b) = (self.tokens, more.tokens);
        Spend {
            usd,
            tokens: Tokens {
                input: a.input + b.input,
                output: a.output + b.output,
                cache_read: a.cache_read + b.cache_read,
                cache_write: a.cache_write + b.cache_write,
            },
        }
    }
}

/// `in 12.3k out 1.2k cache r 40k w 2k · $0.42`: one iteration's line in a change's log.
impl std::fmt::Display for Spend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.tokens;
        write!(f, "in {} out {}", count(t.input), count(t.output))?;
        if t.cache_read + t.cache_write > 0 {
            write!(
                f,
                " cache r {} w {}",
                count(t.cache_read),
                count(t.cache_write)
            )?;
        }
        if let Some(usd) = self.usd {
            write!(f, " · ${usd:.2}")?;
        }
        Ok(())
    }
}

/// A limit on spending; either part may be unset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    #[serde(default)]
    pub usd: Option<f64>,
    /// Counted as [`Tokens::counted`].
    #[serde(default)]
    pub tokens: Option<u64>,
}

impl Budget {
    pub fn is_set(&self) -> bool {
        self.usd.is_some() || self.tokens.is_some()
    }

    /// How `spent` reached this budget, in words (`$2.10 of $2.00`), or None while it has not.
    pub fn crossed(&self, spent: &Spend) -> Option<String> {
        if let Some(limit) = self.usd
            && let Some(usd) = spent.usd.filter(|usd| *usd >= limit)
        {
            return Some(format!("${usd:.2} of ${limit:.2}"));
        }
        let used = spent.tokens.counted();
        self.tokens
            .filter(|limit| used >= *limit)
            .map(|limit| format!("{} of {} tokens", count(used), count(limit)))
    }

    /// The USD column of `status` and the summary: `$1.20/$2.00`, `$1.20`, or `-`.
    pub fn usd_column(&self, spent: &Spend) -> String {
        match (spent.usd, self.usd) {
            (Some(usd), Some(limit)) => format!("${usd:.2}/${limit:.2}"),
            (None, Some(limit)) => format!("$0.00/${limit:.2}"),
            (Some(usd), None) => format!("${usd:.2}"),
            (None, None) => "-".to_owned(),
        }
    }

    /// `$0.42/$2.00 · 3k tokens`: what was spent, against the budget where one is set, with
    /// what is known or budgeted; empty when neither is.
    pub fn against(&self, spent: &Spend) -> String {
        let mut parts = Vec::new();
        if spent.usd.is_some() || self.usd.is_some() {
            parts.push(self.usd_column(spent));
        }
        if spent.tokens.counted() > 0 || self.tokens.is_some() {
            parts.push(format!("{} tokens", self.tokens_column(spent)));
        }
        parts.join(" · ")
    }

    /// The tokens column: what a token budget counts (`52.3k/100k`, `52.3k`), or `-`.
    pub fn tokens_column(&self, spent: &Spend) -> String {
        let used = spent.tokens.counted();
        match self.tokens {
            Some(limit) => format!("{}/{}", count(used), count(limit)),
            None if used > 0 => count(used),
            None => "-".to_owned(),
        }
    }
}

/// `$2.00, 1M tokens`: the parts that are set.
impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(usd) = self.usd {
            parts.push(format!("${usd:.2}"));
        }
        if let Some(tokens) = self.tokens {
            parts.push(format!("{} tokens", count(tokens)));
        }
        f.write_str(&parts.join(", "))
    }
}

/// A token count for people: `950`, `1.2k`, `40k`, `3.5M`.
pub(crate) fn count(n: u64) -> String {
    let (value, unit) = match n {
        0..1_000 => return n.to_string(),
        1_000..1_000_000 => (n as f64 / 1e3, "k"),
        _ => (n as f64 / 1e6, "M"),
    };
    let text = format!("{value:.1}");
    format!("{}{unit}", text.strip_suffix(".0").unwrap_or(&text))
}

/// The run's spending so far against its budget, shared by its pipelines (which charge each
/// agent run as it ends) and its dispatcher (which starts no agent once it is spent).
#[derive(Debug, Default)]
pub struct RunSpend {
    pub budget: Budget,
    spent: Mutex<Spend>,
}

impl RunSpend {
    pub fn new(budget: Budget) -> RunSpend {
        RunSpend {
            budget,
            spent: Mutex::new(Spend::default()),
        }
    }

    pub fn charge(&self, spend: &Spend) {
        if let Ok(mut spent) = self.spent.lock() {
            *spent = spent.plus(spend);
        }
    }

    /// What the run's agents have spent so far.
    pub fn spent(&self) -> Spend {
        self.spent.lock().map(|s| *s).unwrap_or_default()
    }

    /// Why no new agent run may start, once the run's budget is spent.
    pub fn spent_reason(&self) -> Option<String> {
        self.budget.crossed(&self.spent()).map(|how| {
            format!(
                "the run's budget is spent ({how}; run_budget, --budget or --budget-tokens); run `git conflux start` with a higher one to continue"
            )
        })
    }
}

/// The latest run's budget and spending, in `<run dir>/run.json`, so that `status` shows them
/// after the run (and while it goes on). Written by the recorder only, atomically.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    #[serde(default)]
    pub budget: Budget,
    #[serde(default)]
    pub spent: Spend,
}

impl RunRecord {
    fn path(run_dir: &RunDir) -> PathBuf {
        run_dir.root().join("run.json")
    }

    pub fn save(&self, run_dir: &RunDir) -> Result<(), state::Error> {
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        state::write_atomic(&Self::path(run_dir), &bytes)
    }

    /// The record of the latest run; None without one (or when it cannot be read: it is
    /// only shown, never acted on).
    pub fn load(run_dir: &RunDir) -> Option<RunRecord> {
        let bytes = std::fs::read(Self::path(run_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// `status`'s line about it, when the run had a budget.
    pub fn status_line(&self) -> Option<String> {
        if !self.budget.is_set() {
            return None;
        }
        let spent = if self.budget.crossed(&self.spent).is_some() {
            " (spent)"
        } else {
            ""
        };
        Some(format!(
            "Run budget of the latest start: {}{spent}",
            self.budget.against(&self.spent)
        ))
    }
}

/// One warning per agent whose CLI reports no cost while a USD budget is set: such a budget
/// never stops it, and nobody should trust a cap that cannot act.
pub(crate) fn usd_budgets_that_cannot_act<'a>(
    run_budget: &Budget,
    configs: impl IntoIterator<Item = &'a crate::config::Config>,
) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for config in configs {
        let Some(spec) = &config.agent else { continue };
        if (config.budget.usd.is_none() && run_budget.usd.is_none())
            || spec.format().is_none_or(|f| f.reports_cost())
        {
            continue;
        }
        let name = spec.preset_name().unwrap_or("the agent command").to_owned();
        if seen.insert(name.clone()) {
            out.push(format!(
                "a USD budget is set, but {name} reports no cost, so that budget never stops it; add a token budget (budget: {{tokens: N}}, or start --budget-tokens N)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_the_log_says() {
        let shown: Vec<String> = [0, 950, 1_234, 2_000, 12_345, 40_000, 3_500_000]
            .into_iter()
            .map(count)
            .collect();
        assert_eq!(shown, ["0", "950", "1.2k", "2k", "12.3k", "40k", "3.5M"]);
    }

    #[test]
    fn a_budget_is_crossed_when_reached_and_counts_no_cache_reads() {
        let spent = Spend {
            usd: Some(2.0),
            tokens: Tokens {
                input: 10,
                output: 20,
                cache_read: 1_000_000,
                cache_write: 70,
            },
        };
        let usd = Budget {
            usd: Some(2.0),
            tokens: None,
        };
        assert_eq!(usd.crossed(&spent).as_deref(), Some("$2.00 of $2.00"));
        let tokens = Budget {
            usd: None,
            tokens: Some(101),
        };
        assert_eq!(tokens.crossed(&spent), None);
        let tokens = Budget {
            usd: None,
            tokens: Some(100),
        };
        assert_eq!(tokens.crossed(&spent).as_deref(), Some("100 of 100 tokens"));
        // A USD budget is never crossed by an agent that reports no cost.
        assert_eq!(usd.crossed(&Spend::default()), None);
    }
}
