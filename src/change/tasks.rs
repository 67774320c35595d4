//! The checkbox parser for `tasks.md`, ported from the OpenSpec CLI so that both count the
//! same lines as tasks and the same lines as done.
//!
//! Source: `@fission-ai/openspec` 1.13.2, `dist/utils/task-progress.js`, `TASK_LINE_PATTERN`
//! (`/^\s*(?:[-*+]|\d{1,9}[.)])\s*\[(?:\s*([^\]\s]?)\s*\](?![([])|\s+\])\s*(.*)/`), applied to
//! every line of the file split on `\n`. In words:
//!
//! - **A task** is a line that, after any leading whitespace, starts with a list marker: `-`,
//!   `*`, `+`, or 1 to 9 digits followed by `.` or `)` (`1.`, `12)`). Then optional whitespace
//!   and a checkbox.
//! - **The checkbox** is `[`, optional whitespace, at most one non-whitespace character (the
//!   marker), optional whitespace, `]`. `[ ]`, `[]`, `[x]`, `[ X ]`, `[~]`, `[-]` and `[1]` are
//!   all checkboxes. `[WIP]` (several characters) is not. A box holding a character is not a
//!   checkbox when `]` is directly followed by `(` or `[` (`- [a](link)` is a link bullet);
//!   a box holding only whitespace is one even then (`- [ ](x)`), an empty `[](x)` is not.
//!   A marker outside the Basic Multilingual Plane (an emoji) is not one character to OpenSpec
//!   (JavaScript counts UTF-16 units), so `- [🙂] …` is not a task.
//! - **Done** means the marker is `x` or `X`. Every other marker (`[ ]`, `[]`, `[~]`, `[-]`,
//!   `[1]`) is a task not yet done.
//! - **Indentation does not matter**: nested sub-tasks count like their parents, and so do
//!   lines inside code fences, HTML comments and indented blocks: OpenSpec counts them all.
//! - **Whitespace** is JavaScript's `\s`: space, tab, vertical tab, form feed, no-break space,
//!   U+FEFF (so a byte order mark before the first task is harmless), the Unicode space
//!   separators (U+1680, U+2000–U+200A, U+202F, U+205F, U+3000) and the line terminators
//!   CR, U+2028, U+2029. U+0085 (NEL) is *not* whitespace.
//! - **Line endings**: lines are split on LF; a CR before it is whitespace, so CRLF files
//!   count exactly like LF files.
//! - **The task text** is what follows the checkbox, up to the first CR, U+2028 or U+2029,
//!   with surrounding whitespace removed. A spec-kit task id (`T001`) at its start and a
//!   following `[P]` marker are also recorded on the task (the text keeps them).
//! - **Files**: only the change's top-level `tasks.md` (OpenSpec's default `spec-driven`
//!   schema). A missing file has no tasks. A file that is not valid UTF-8 is reported and
//!   counts as no tasks (OpenSpec would decode it lossily and count it anyway).

use std::path::{Path, PathBuf};

/// One checkbox line of a tasks file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    /// The text after the checkbox, trimmed (as OpenSpec's `description`).
    pub text: String,
    /// Ticked with `x` or `X`.
    pub done: bool,
    /// 1-based line number in the file.
    pub line: usize,
    /// A spec-kit task id (`T001`) opening the text.
    pub id: Option<String>,
    /// A spec-kit `[P]` marker (may run in parallel) after the id.
    pub parallel: bool,
}

/// Reading a tasks file failed; the change counts as having no tasks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{path}: not valid UTF-8 (first bad byte on line {line}); its tasks are not counted: save it as UTF-8"
    )]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{path}: {reason}")]
    Read {
        path: PathBuf,
        reason: crate::files::Reason,
    },
}

/// Reads and parses the tasks file `rel` of the checkout at `root` (errors name `rel`). A
/// missing file is an empty list, because a change may not have written its tasks yet. The
/// file is read safely ([`crate::files::read`]): it may not lead out of `root`.
pub fn read_tasks(root: &Path, rel: &Path) -> Result<Vec<Task>, Error> {
    let bytes = match crate::files::read(&root.join(rel), Some(root)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Read {
                path: rel.to_owned(),
                reason: e.reason,
            });
        }
    };
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(parse_tasks(text)),
        Err(e) => Err(Error::NotUtf8 {
            path: rel.to_owned(),
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        }),
    }
}

/// Parses the text of a tasks file: every checkbox line, in document order.
pub fn parse_tasks(text: &str) -> Vec<Task> {
    text.split('\n')
        .enumerate()
        .filter_map(|(index, line)| parse_line(line, index + 1))
        .collect()
}

/// JavaScript's `\s` (WhiteSpace and LineTerminator of ECMA-262), which differs from Rust's
/// `char::is_whitespace` (no U+0085, plus U+FEFF).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// JavaScript's line terminators, where `.` stops.
fn is_js_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches(is_js_space)
}

/// Matches one line against OpenSpec's `TASK_LINE_PATTERN`.
fn parse_line(line: &str, number: usize) -> Option<Task> {
    let rest = skip_space(line);
    let rest = if let Some(r) = rest.strip_prefix(['-', '*', '+']) {
        r
    } else {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if !(1..=9).contains(&digits) {
            return None;
        }
        rest[digits..].strip_prefix(['.', ')'])?
    };
    let rest = skip_space(rest).strip_prefix('[')?;
    let (done, after) = checkbox(rest)?;
    Some(task(skip_space(after), done, number))
}

/// The inside of a checkbox, from after `[`: returns whether it is ticked and what follows `]`.
fn checkbox(inside: &str) -> Option<(bool, &str)> {
    let lead = skip_space(inside);
    let had_space = lead.len() < inside.len();
    // First alternative: `\s*([^\]\s]?)\s*\](?![([])`. The marker is one UTF-16 unit.
    let (marker, after_marker) = match lead.chars().next() {
        Some(c) if c != ']' && !is_js_space(c) => {
            if c.len_utf16() != 1 {
                return None;
            }
            (Some(c), &lead[c.len_utf8()..])
        }
        _ => (None, lead),
    };
    let after = skip_space(after_marker).strip_prefix(']')?;
    if !after.starts_with(['(', '[']) {
        return Some((matches!(marker, Some('x' | 'X')), after));
    }
    // Second alternative: `\s+\]`, with no look-ahead: a whitespace-only box.
    if marker.is_none() && had_space {
        return Some((false, after));
    }
    None
}

fn task(after: &str, done: bool, line: usize) -> Task {
    let end = after.find(is_js_line_terminator).unwrap_or(after.len());
    let text = after[..end].trim_matches(is_js_space);
    let (id, parallel) = speckit_id(text);
    Task {
        text: text.to_owned(),
        done,
        line,
        id,
        parallel,
    }
}

/// A spec-kit task opens with its id (`T001`) and, when it may run in parallel, `[P]`.
fn speckit_id(text: &str) -> (Option<String>, bool) {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return (None, false);
    };
    let is_id =
        first.len() > 1 && first.starts_with('T') && first[1..].bytes().all(|b| b.is_ascii_digit());
    if !is_id {
        return (None, false);
    }
    (Some(first.to_owned()), words.next() == Some("[P]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(text: &str) -> (usize, usize) {
        let tasks = parse_tasks(text);
        (tasks.iter().filter(|t| t.done).count(), tasks.len())
    }

    #[test]
    fn list_markers() {
        assert_eq!(
            counts("- [ ] a\n* [x] b\n+ [X] c\n1. [ ] d\n12) [x] e\n"),
            (3, 5)
        );
        assert_eq!(
            counts("1234567890. [ ] ten digits\n123456789. [ ] nine\n"),
            (0, 1)
        );
        assert_eq!(
            counts("[ ] no bullet\n-- [ ] two dashes\n1: [ ] colon\n"),
            (0, 0)
        );
        assert_eq!(counts("-[x]tight\n1.[ ]tight\n"), (1, 2));
    }

    #[test]
    fn checkbox_shapes() {
        assert_eq!(
            counts("- []\n- [ x ]\n- [~] w\n- [-]\n- [1]\n- [WIP] no\n- [x y] no\n"),
            (1, 5)
        );
        assert_eq!(counts("- [a](link)\n- [1][ref]\n- [x](l)\n"), (0, 0));
        assert_eq!(counts("- [ ](link)\n- [ ][ref]\n- [](link)\n"), (0, 2));
        assert_eq!(counts("- [é] accent\n- [🙂] emoji\n"), (0, 1));
    }

    #[test]
    fn whitespace_is_javascripts() {
        assert_eq!(
            counts("\u{FEFF}- [x] bom\n\u{3000}- [ ] ideographic\n"),
            (1, 2)
        );
        assert_eq!(counts("\u{85}- [x] nel\n- [\u{85}] nel marker\n"), (0, 1));
        assert_eq!(counts("- [x] a\r\n  - [ ] b\r\n\r\n"), (1, 2));
    }

    #[test]
    fn text_line_and_speckit_fields() {
        let tasks = parse_tasks("# T\n\n- [ ] T001 [P] Write a.rs\r\n  - [x]   1.1 Nested  \n");
        assert_eq!(
            tasks,
            vec![
                Task {
                    text: "T001 [P] Write a.rs".into(),
                    done: false,
                    line: 3,
                    id: Some("T001".into()),
                    parallel: true,
                },
                Task {
                    text: "1.1 Nested".into(),
                    done: true,
                    line: 4,
                    id: None,
                    parallel: false,
                },
            ]
        );
        assert_eq!(
            parse_tasks("- [ ] T002 Serial")[0].id.as_deref(),
            Some("T002")
        );
        assert!(!parse_tasks("- [ ] T002 Serial")[0].parallel);
        assert_eq!(parse_tasks("- [ ] Tea time")[0].id, None);
        assert_eq!(parse_tasks("- [x] a\u{2028}b")[0].text, "a");
    }
}
