//! The reviewer's verdict, read from its (decoded) output.
//!
//! The contract (also in the man page): primarily a JSON object on a line of its own,
//! `{"verdict": "pass|fail|blocked", "findings": ["…"]}`; as a fallback a line
//! `VERDICT: PASS|FAIL|BLOCKED` followed by `- finding` bullets, with any markdown emphasis
//! around the marker. The last verdict in the output wins.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Pass,
    Fail,
    Blocked,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Fail => "fail",
            Decision::Blocked => "blocked",
        }
    }

    fn parse(word: &str) -> Option<Decision> {
        match word.to_ascii_lowercase().as_str() {
            "pass" | "passed" => Some(Decision::Pass),
            "fail" | "failed" => Some(Decision::Fail),
            "blocked" => Some(Decision::Blocked),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub verdict: Decision,
    #[serde(default)]
    pub findings: Vec<String>,
}

/// The last verdict in `text`, if there is one.
pub fn find(text: &str) -> Option<Verdict> {
    let lines: Vec<&str> = text.lines().collect();
    let mut last = None;
    let mut i = 0;
    while i < lines.len() {
        if let Some(v) = json_verdict(lines[i]) {
            last = Some(v);
        } else if let Some(decision) = marker(lines[i]) {
            let mut findings = Vec::new();
            let mut j = i + 1;
            while j < lines.len() {
                let line = lines[j].trim();
                if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
                    findings.push(item.trim().to_owned());
                } else if !line.is_empty() && !line.starts_with("```") {
                    break;
                }
                j += 1;
            }
            last = Some(Verdict {
                verdict: decision,
                findings,
            });
            i = j;
            continue;
        }
        i += 1;
    }
    last
}

/// `{"verdict": …}` alone on a line (fences and surrounding spaces allowed).
fn json_verdict(line: &str) -> Option<Verdict> {
    let line = line
        .trim()
        .trim_start_matches('`')
        .trim_end_matches('`')
        .trim();
    if !line.starts_with('{') || !line.contains("\"verdict\"") {
        return None;
    }
    serde_json::from_str(line).ok()
}

/// `VERDICT: PASS`, `**Verdict:** fail`, `## VERDICT: BLOCKED` …
fn marker(line: &str) -> Option<Decision> {
    let cleaned: String = line
        .chars()
        .filter(|c| !matches!(c, '*' | '_' | '#' | '`' | '>'))
        .collect();
    let cleaned = cleaned.trim();
    let (head, rest) = cleaned.split_once(':')?;
    if !head.trim().eq_ignore_ascii_case("verdict") {
        return None;
    }
    let word = rest
        .split_whitespace()
        .next()?
        .trim_matches(|c: char| !c.is_ascii_alphabetic());
    Decision::parse(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_wins_and_last_verdict_counts() {
        let text = "Looking at the diff.\n{\"verdict\": \"fail\", \"findings\": [\"no tests\"]}\nOn reflection:\n{\"verdict\": \"pass\", \"findings\": []}\n";
        assert_eq!(
            find(text),
            Some(Verdict {
                verdict: Decision::Pass,
                findings: vec![]
            })
        );
    }

    #[test]
    fn json_inside_a_code_fence() {
        let text = "```json\n{\"verdict\": \"blocked\", \"findings\": [\"needs a product decision\"]}\n```\n";
        let v = find(text).unwrap();
        assert_eq!(v.verdict, Decision::Blocked);
        assert_eq!(v.findings, ["needs a product decision"]);
    }

    #[test]
    fn marker_with_emphasis_and_bullets() {
        let text = "Review done.\n\n**VERDICT: FAIL**\n- `login()` ignores errors\n- no test for logout\n\nThanks";
        let v = find(text).unwrap();
        assert_eq!(v.verdict, Decision::Fail);
        assert_eq!(
            v.findings,
            ["`login()` ignores errors", "no test for logout"]
        );
        assert_eq!(find("## Verdict: pass").unwrap().verdict, Decision::Pass);
        assert_eq!(
            find("**Verdict:** Blocked.").unwrap().verdict,
            Decision::Blocked
        );
    }

    #[test]
    fn no_verdict_and_near_misses() {
        assert_eq!(find(""), None);
        assert_eq!(
            find("The verdict is unclear.\nverdict: maybe\n{\"verdict\": \"perhaps\"}"),
            None
        );
        assert_eq!(find("{\"result\": \"pass\"}"), None);
    }

    #[test]
    fn mixed_forms_last_wins() {
        let text = "{\"verdict\":\"pass\"}\nVERDICT: FAIL\n- broken build";
        assert_eq!(find(text).unwrap().verdict, Decision::Fail);
    }
}
