//! What conflux reads from a change's description (OpenSpec `proposal.md`, spec-kit
//! `spec.md`): its title, its dependencies and its `conflux:` configuration.
//!
//! Dependencies are declared either in YAML front matter at the very top of the file
//! (`dependencies: [a, b]`, or `depends_on:`), or in a `## Dependencies` section whose
//! top-level bullets each name one change: `- id`, `` - `id` ``, `- [id](../id/proposal.md)`,
//! `- id: note`, `- id (note)`, `- id - note`. A bullet reading `None` (or `n/a`) is skipped.
//! All forms may be combined; the ids are collected in order, without repeats.

use std::borrow::Cow;

use super::id::validate_id;

/// The parts of a proposal conflux uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    /// The first `# ` heading, without a `Change:`-style prefix.
    pub title: Option<String>,
    /// Ids of the changes this one builds on, in the order written.
    pub dependencies: Vec<String>,
    /// The front matter's `conflux:` value, kept for the configuration layer.
    pub config: Option<serde_json::Value>,
}

/// A proposal that cannot be read; `line` and `column` are 1-based positions in the file,
/// left out of the message so that the caller can put them after the file name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("front matter: {message}")]
    Yaml {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("front matter opened here is never closed: end it with a `---` line")]
    Unclosed { line: usize },
    #[error(
        "`{text}` under `## Dependencies` is not a change id: write `- <change-id>` or `- <change-id>: note` ({reason})"
    )]
    BadDependency {
        line: usize,
        text: String,
        reason: String,
    },
}

impl ParseError {
    /// The 1-based line and, when known, column of the error.
    pub fn position(&self) -> (usize, Option<usize>) {
        match self {
            ParseError::Yaml { line, column, .. } => (*line, Some(*column)),
            ParseError::Unclosed { line } | ParseError::BadDependency { line, .. } => (*line, None),
        }
    }
}

/// Front matter keys conflux reads; other keys (OpenSpec users keep their own) are ignored.
#[derive(serde::Deserialize, Default)]
struct FrontMatter {
    #[serde(default)]
    dependencies: Option<Vec<String>>,
    #[serde(default)]
    depends_on: Option<Vec<String>>,
    #[serde(default)]
    conflux: Option<serde_json::Value>,
}

/// Title prefixes that templates put before the name of the change.
const TITLE_PREFIXES: [&str; 3] = ["change:", "proposal:", "feature specification:"];

/// Parses a proposal's text (a leading byte order mark is ignored).
pub fn parse_proposal(text: &str) -> Result<Meta, ParseError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (front, body_start) = front_matter(&lines)?;
    let mut dependencies = Vec::new();
    let mut push = |id: String| {
        if !dependencies.contains(&id) {
            dependencies.push(id);
        }
    };
    front
        .dependencies
        .into_iter()
        .chain(front.depends_on)
        .flatten()
        .for_each(&mut push);
    let body = Body::scan(&lines, body_start);
    for (line, id) in body.dependencies {
        push(id.map_err(|(text, reason)| ParseError::BadDependency { line, text, reason })?);
    }
    Ok(Meta {
        title: body.title,
        dependencies,
        config: front.conflux,
    })
}

/// Reads the front matter when the first line is `---`; returns it and the index of the
/// first body line.
fn front_matter(lines: &[&str]) -> Result<(FrontMatter, usize), ParseError> {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return Ok((FrontMatter::default(), 0));
    }
    let Some(end) = lines
        .iter()
        .skip(1)
        .position(|l| matches!(l.trim_end(), "---" | "..."))
        .map(|i| i + 1)
    else {
        return Err(ParseError::Unclosed { line: 1 });
    };
    let yaml = lines[1..end].join("\n");
    let parsed: Option<FrontMatter> = serde_saphyr::from_str(&yaml).map_err(|e| yaml_error(&e))?;
    Ok((parsed.unwrap_or_default(), end + 1))
}

/// Converts a YAML error to a position in the whole file (the YAML starts on line 2).
fn yaml_error(err: &serde_saphyr::Error) -> ParseError {
    let message = crate::config::yaml_text(err);
    let (line, column) = err
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((1, 1));
    ParseError::Yaml {
        line: line.max(1) + 1,
        column: column.max(1),
        message,
    }
}

/// A dependency bullet: the id, or the bullet's text and why it is not an id.
type Bullet = Result<String, (String, String)>;

/// The title and `## Dependencies` bullets of the body, outside code fences.
struct Body {
    title: Option<String>,
    /// 1-based line and what its bullet names.
    dependencies: Vec<(usize, Bullet)>,
}

impl Body {
    fn scan(lines: &[&str], start: usize) -> Body {
        let mut body = Body {
            title: None,
            dependencies: Vec::new(),
        };
        let mut fence: Option<(char, usize)> = None;
        let mut in_dependencies = false;
        for (index, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if let Some((c, n)) = fence_marker(trimmed) {
                match fence {
                    None => fence = Some((c, n)),
                    Some((open, len)) if open == c && n >= len && is_fence_close(trimmed) => {
                        fence = None
                    }
                    Some(_) => {}
                }
                continue;
            }
            if fence.is_some() {
                continue;
            }
            if let Some((level, heading)) = heading(line) {
                if level == 1 && body.title.is_none() {
                    body.title = Some(strip_title_prefix(heading).to_owned());
                }
                if level <= 2 {
                    in_dependencies = level == 2 && heading.eq_ignore_ascii_case("dependencies");
                }
                continue;
            }
            if in_dependencies
                && let Some(item) = bullet(line)
                && let Some(dep) = dependency(item)
            {
                body.dependencies.push((index + 1, dep));
            }
        }
        body
    }
}

/// A code fence opener or closer: three or more backticks or tildes.
fn fence_marker(trimmed: &str) -> Option<(char, usize)> {
    let c = trimmed.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let n = trimmed.len() - trimmed.trim_start_matches(c).len();
    (n >= 3).then_some((c, n))
}

fn is_fence_close(trimmed: &str) -> bool {
    trimmed.trim_start_matches(['`', '~']).trim().is_empty()
}

/// An ATX heading (at most three spaces of indentation): its level and text.
fn heading(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&level) {
        return None;
    }
    let text = &rest[level..];
    if !(text.is_empty() || text.starts_with([' ', '\t'])) {
        return None;
    }
    let text = text.trim();
    let text = text.trim_end_matches('#').trim_end();
    Some((level, text))
}

fn strip_title_prefix(title: &str) -> &str {
    TITLE_PREFIXES
        .iter()
        .find_map(|p| {
            title
                .get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| title[p.len()..].trim_start())
        })
        .unwrap_or(title)
}

/// The text of a top-level bullet (`-`, `*`, `+`, indented by at most one space; deeper
/// bullets are notes nested under one).
fn bullet(line: &str) -> Option<&str> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 1 {
        return None;
    }
    let rest = line[indent..].strip_prefix(['-', '*', '+'])?;
    rest.starts_with([' ', '\t']).then(|| rest.trim())
}

/// One dependency bullet: `None` when it says there are none, else the id or why not.
fn dependency(item: &str) -> Option<Bullet> {
    let first_word = item
        .split(|c: char| c.is_whitespace() || matches!(c, '.' | ',' | ':' | '(' | ';'))
        .next()
        .unwrap_or("");
    if item.is_empty()
        || first_word.eq_ignore_ascii_case("none")
        || first_word.eq_ignore_ascii_case("n/a")
    {
        return None;
    }
    let (id, rest): (Cow<'_, str>, &str) = if let Some(r) = item.strip_prefix('`') {
        match r.split_once('`') {
            Some((id, rest)) => (id.trim().into(), rest),
            None => return Some(Err((item.to_owned(), "unclosed backtick".to_owned()))),
        }
    } else if let Some(r) = item.strip_prefix('[') {
        match r.split_once(']') {
            Some((label, rest)) => {
                let rest = match rest.strip_prefix('(') {
                    Some(link) => link.split_once(')').map_or("", |(_, after)| after),
                    None => rest,
                };
                (label.trim().trim_matches('`').trim().into(), rest)
            }
            None => return Some(Err((item.to_owned(), "unclosed `[`".to_owned()))),
        }
    } else {
        let end = item
            .find(|c: char| c.is_whitespace() || matches!(c, ':' | '('))
            .unwrap_or(item.len());
        (item[..end].into(), &item[end..])
    };
    let rest = rest.trim_start();
    let note_follows =
        rest.is_empty() || rest.starts_with([':', '(', ',', '-', '\u{2013}', '\u{2014}']);
    if !note_follows {
        return Some(Err((
            item.to_owned(),
            "text follows the id without `:`, `(` or ` - `".to_owned(),
        )));
    }
    Some(match validate_id(&id) {
        Ok(()) => Ok(id.into_owned()),
        Err(e) => Err((item.to_owned(), e.reason.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(text: &str) -> Vec<String> {
        parse_proposal(text).expect("parses").dependencies
    }

    #[test]
    fn front_matter_lists_and_config() {
        let meta = parse_proposal(
            "---\ndependencies: [a, b]\ndepends_on:\n  - c\n  - a\nconflux: {max_iterations: 5, verify: \"cargo test\"}\nowner: someone\n---\n# Change: Add login\n",
        )
        .expect("parses");
        assert_eq!(meta.dependencies, ["a", "b", "c"]);
        assert_eq!(meta.title.as_deref(), Some("Add login"));
        assert_eq!(
            meta.config,
            Some(serde_json::json!({"max_iterations": 5, "verify": "cargo test"}))
        );
    }

    #[test]
    fn dependencies_section_forms() {
        let text = "# T\n\n## Why\n- not-a-dep\n\n## Dependencies\n\nThis builds on:\n\n- plain\n- `ticked`\n- [linked](../linked/proposal.md)\n- [`linked-code`](x)\n- noted: because\n- paren (soon)\n- dashed - note\n  - nested-note ignored\n* star\n- plain\n\n```\n- fenced\n```\n### Sub\n- under-sub\n## Next\n- after\n";
        assert_eq!(
            deps(text),
            [
                "plain",
                "ticked",
                "linked",
                "linked-code",
                "noted",
                "paren",
                "dashed",
                "star",
                "under-sub"
            ]
        );
        assert!(deps("## Dependencies\n- None\n- none.\n- N/A\n").is_empty());
        assert!(deps("## Dependencies\n\n```md\n## Dependencies\n- x\n```\n").is_empty());
    }

    #[test]
    fn bad_bullets_name_the_line() {
        let err = parse_proposal("# T\n## Dependencies\n- serde for parsing\n").unwrap_err();
        assert!(
            matches!(&err, ParseError::BadDependency { line: 3, text, .. } if text == "serde for parsing"),
            "{err}"
        );
        let err = parse_proposal("## Dependencies\n- Other-Change\n").unwrap_err();
        assert!(err.to_string().contains("uppercase"), "{err}");
    }

    #[test]
    fn front_matter_errors_have_file_positions() {
        let err = parse_proposal("---\ndependencies: [a, b\nfoo: 1\n---\n").unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::Yaml {
                    line: 3,
                    column: 4,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_proposal("---\ndependencies: 5\n---\n").unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::Yaml {
                    line: 2,
                    column: 15,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            parse_proposal("---\ndependencies: [a]\n# T\n"),
            Err(ParseError::Unclosed { line: 1 })
        );
    }

    /// Deterministic sweep over combinations of the fragments that steer the parsers: none
    /// may panic, whatever the input.
    #[test]
    fn arbitrary_text_never_panics() {
        const PARTS: [&str; 24] = [
            "---\n",
            "...\n",
            "## Dependencies\n",
            "# Change: t\n",
            "- ",
            "* ",
            "1. ",
            "[",
            "]",
            "(",
            ")",
            "`",
            "```\n",
            "~~~",
            "x",
            "X",
            " ",
            "\t",
            "\r\n",
            "\n",
            "é",
            "🙂",
            "\u{FEFF}",
            ": [a, {b: *c}]\n",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(seed % 24) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(PARTS[(seed >> 33) as usize % PARTS.len()]);
            }
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let _ = parse_proposal(&text);
            let _ = crate::change::parse_tasks(&text);
        }
    }

    #[test]
    fn bom_crlf_and_empty_front_matter() {
        let meta = parse_proposal("\u{FEFF}---\r\ndependencies: [a]\r\n---\r\n# Change: X\r\n")
            .expect("parses");
        assert_eq!(meta.dependencies, ["a"]);
        assert_eq!(meta.title.as_deref(), Some("X"));
        assert_eq!(parse_proposal("---\n---\n"), Ok(Meta::default()));
        assert_eq!(parse_proposal(""), Ok(Meta::default()));
    }
}
