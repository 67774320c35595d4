//! The prompt of one agent iteration, from a template with named placeholders.

use crate::change::Change;

/// The default template: the change's documents, its open tasks, the rules of the loop, and
/// the last verify failure.
pub const DEFAULT_TEMPLATE: &str = "\
You are implementing the change `{change_id}` in this repository. Your working directory is \
the change's own git worktree; edit files here only.

Read the change first:
{documents}
Open tasks (from {tasks_file}):
{open_tasks}

Work through the open tasks in order. When a task is done, tick its checkbox in {tasks_file} \
(`- [ ]` becomes `- [x]`); never tick a task you have not done. Do not commit: git-conflux \
commits your work after this run. This is iteration {iteration}.
{verify_failure}{review_findings}{messages}";

/// What a prompt is made from.
pub struct PromptInput<'a> {
    pub change: &'a Change,
    /// Tasks as they are in the worktree now.
    pub tasks: &'a [crate::change::Task],
    pub iteration: u32,
    /// The verify command and the tail of its failed output, when the last verify failed.
    pub verify_failure: Option<(&'a str, &'a str)>,
    /// The last review's findings, when it failed.
    pub review_findings: &'a [String],
    /// What the person running the change told it (`git conflux tell`) since the last
    /// iteration.
    pub messages: &'a [String],
    /// Paths of the change's documents that exist, relative to the worktree.
    pub documents: &'a [String],
}

/// Renders `template` (or the default); unknown `{names}` are left as they are.
pub fn render(template: Option<&str>, input: &PromptInput<'_>) -> String {
    let template = template.unwrap_or(DEFAULT_TEMPLATE);
    let open: String = input
        .tasks
        .iter()
        .filter(|t| !t.done)
        .map(|t| format!("- [ ] {} (line {})\n", t.text, t.line))
        .collect();
    let open = if open.is_empty() {
        "(none: every task is ticked)\n".to_owned()
    } else {
        open
    };
    let documents: String = input.documents.iter().map(|d| format!("- {d}\n")).collect();
    let verify = match input.verify_failure {
        Some((command, tail)) => format!(
            "\nThe verify command `{command}` failed after the last iteration. Fix the cause. The end of its output:\n```\n{}\n```\n",
            tail.trim_end()
        ),
        None => String::new(),
    };
    let findings = if input.review_findings.is_empty() {
        String::new()
    } else {
        let list: String = input
            .review_findings
            .iter()
            .map(|f| format!("- {f}\n"))
            .collect();
        format!(
            "\nA reviewer found these problems with the change; fix them:\n{}",
            bounded(&list, 4000)
        )
    };
    let messages = if input.messages.is_empty() {
        String::new()
    } else {
        let list: String = input.messages.iter().map(|m| format!("- {m}\n")).collect();
        format!(
            "\nThe person running this change tells you (follow it; it overrides the plan above where they disagree):\n{}",
            bounded(&list, 8000)
        )
    };
    let dir = input.change.dir.display().to_string();
    let title = input
        .change
        .title
        .clone()
        .unwrap_or_else(|| input.change.id.clone());
    // In the order of PROMPT_PLACEHOLDERS.
    let values: [String; 11] = [
        input.change.id.clone(),
        title,
        documents,
        dir.clone(),
        format!("{dir}/proposal.md"),
        input.change.tasks_file.display().to_string(),
        open,
        input.iteration.to_string(),
        verify,
        findings,
        messages,
    ];
    substitute(template, &PROMPT_PLACEHOLDERS, &values)
}

/// The placeholders a `prompt` template may use.
pub const PROMPT_PLACEHOLDERS: [&str; 11] = [
    "change_id",
    "title",
    "documents",
    "change_dir",
    "proposal",
    "tasks_file",
    "open_tasks",
    "iteration",
    "verify_failure",
    "review_findings",
    "messages",
];

/// The placeholders a `review.prompt` template may use.
pub const REVIEW_PLACEHOLDERS: [&str; 7] = [
    "change_id",
    "title",
    "documents",
    "tasks_file",
    "branch",
    "start_commit",
    "round",
];

/// Refuses a `{word}` that names no placeholder of `known`: it would reach the agent
/// literally, which is never what the writer meant. Braces around anything but a plain
/// lowercase word (JSON, code, `{ x }`) are text and pass.
pub fn check(template: &str, known: &[&str]) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        if let Some(end) = after.find('}') {
            let word = &after[..end];
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if plain && !known.contains(&word) {
                let hint = crate::suggest::did_you_mean(word, known.iter().copied())
                    .map_or(String::new(), |d| format!(" ({d})"));
                return Err(format!(
                    "unknown placeholder {{{word}}}{hint}; known: {}",
                    known
                        .iter()
                        .map(|k| format!("{{{k}}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        }
        rest = after;
    }
    Ok(())
}

/// The default prompt of the reviewer: what to read, what to judge, and the verdict contract.
pub const DEFAULT_REVIEW_TEMPLATE: &str = "\
You are reviewing the change `{change_id}` ({title}), implemented in this worktree on branch \
{branch}. Do not modify, create or delete any file, and do not commit: only read and judge.

The change's documents:
{documents}
Its tasks: {tasks_file}
The implementation is the diff `git diff {start_commit}..HEAD`; run it to see every change.

Judge whether the implementation does what the proposal and every ticked task ask, correctly \
and completely. This is review round {round}. End your answer with the verdict, a JSON object \
on a line of its own:
{\"verdict\": \"pass\", \"findings\": []}
Use \"fail\" with findings (each a concrete problem to fix) when work is missing or wrong, and \
\"blocked\" with the reason as a finding when the change cannot be finished without a person's \
decision.
";

/// Renders the reviewer's prompt (`review.prompt`, or the default).
pub fn render_review(
    template: Option<&str>,
    change: &Change,
    documents: &[String],
    branch: &str,
    start_commit: &str,
    round: u32,
) -> String {
    let documents: String = documents.iter().map(|d| format!("- {d}\n")).collect();
    // In the order of REVIEW_PLACEHOLDERS.
    let values: [String; 7] = [
        change.id.clone(),
        change.title.clone().unwrap_or_else(|| change.id.clone()),
        documents,
        change.tasks_file.display().to_string(),
        branch.to_owned(),
        start_commit.to_owned(),
        round.to_string(),
    ];
    substitute(
        template.unwrap_or(DEFAULT_REVIEW_TEMPLATE),
        &REVIEW_PLACEHOLDERS,
        &values,
    )
}

/// The prompt of the agent that resolves a conflicting merge of the base into a change.
pub const RESOLVE_TEMPLATE: &str = "\
You are resolving merge conflicts for the change `{change_id}` ({title}), in its git worktree \
on branch {branch}. The base branch {base} has been merged into this branch, and these paths \
conflict:
{conflicts}
Conflicting text files hold conflict markers: the lines between `<<<<<<< {branch}` and \
`=======` are this change's version, those between `=======` and `>>>>>>> {base}` are the \
base's version.

This change's intent: {proposal}.
What the base gained meanwhile (run `git log {branch}..MERGE_HEAD` for its commits):
{base_side}
Edit each conflicting file so that it keeps what both sides meant to do, and remove every \
conflict marker. Do not commit and do not run git merge, reset or checkout: git-conflux \
checks that no marker remains{verify}, commits the merge and merges the change into {base}.
";

/// What the resolve prompt is made from.
pub struct ResolveInput<'a> {
    pub change: &'a Change,
    pub branch: &'a str,
    pub base: &'a str,
    /// `path (kind)` of each conflicting path.
    pub conflicts: &'a [String],
    /// The base side's intent: one line per change merged into it since this one started
    /// (its id, title and proposal), or empty when none is known.
    pub base_side: &'a [String],
    /// The verify command that must pass afterwards.
    pub verify: Option<&'a str>,
}

/// Renders the resolve prompt.
pub fn render_resolve(input: &ResolveInput<'_>) -> String {
    let list = |items: &[String], empty: &str| -> String {
        if items.is_empty() {
            format!("{empty}\n")
        } else {
            items.iter().map(|item| format!("- {item}\n")).collect()
        }
    };
    let change = input.change;
    let names = [
        "change_id",
        "title",
        "branch",
        "base",
        "conflicts",
        "proposal",
        "base_side",
        "verify",
    ];
    let values: [String; 8] = [
        change.id.clone(),
        change.title.clone().unwrap_or_else(|| change.id.clone()),
        input.branch.to_owned(),
        input.base.to_owned(),
        bounded(&list(input.conflicts, "(none)"), 8000),
        format!("read {}", proposal_of(change).display()),
        bounded(
            &list(
                input.base_side,
                "- (no change merged by git-conflux is known; the commits tell)",
            ),
            4000,
        ),
        input
            .verify
            .map(|v| format!(", runs the verify command `{v}`"))
            .unwrap_or_default(),
    ];
    substitute(RESOLVE_TEMPLATE, &names, &values)
}

/// The document that states a change's intent: OpenSpec's proposal, spec-kit's spec.
pub fn proposal_of(change: &Change) -> std::path::PathBuf {
    match change.source {
        crate::change::Source::Openspec => change.dir.join("proposal.md"),
        crate::change::Source::SpecKit => change.dir.join("spec.md"),
    }
}

/// At most `max` bytes of `text`, cut at a line end when possible.
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[..end].rfind('\n').map_or(end, |i| i + 1);
    format!("{}(… more cut)\n", &text[..cut])
}

/// One pass over the template, so substituted text is never substituted again.
fn substitute(template: &str, names: &[&str], values: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let hit = after.find('}').and_then(|end| {
            let name = &after[..end];
            names
                .iter()
                .position(|n| *n == name)
                .map(|i| (&values[i], end))
        });
        match hit {
            Some((value, end)) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_once_and_keeps_unknown_braces() {
        let out = substitute(
            "{a} {b} {unknown} {",
            &["a", "b"],
            &["{b}".into(), "x".into()],
        );
        assert_eq!(out, "{b} x {unknown} {");
    }

    #[test]
    fn unknown_words_in_braces_are_refused_and_text_in_braces_passes() {
        let err = check("Read {design} then {change_id}", &PROMPT_PLACEHOLDERS).unwrap_err();
        assert!(
            err.starts_with("unknown placeholder {design}; known: {change_id}"),
            "{err}"
        );
        let err = check("{chnage_id}", &PROMPT_PLACEHOLDERS).unwrap_err();
        assert!(err.contains("did you mean `change_id`?"), "{err}");
        check(DEFAULT_TEMPLATE, &PROMPT_PLACEHOLDERS).unwrap();
        check(DEFAULT_REVIEW_TEMPLATE, &REVIEW_PLACEHOLDERS).unwrap();
        check(
            "{\"verdict\": \"pass\"} {} { x } {Name}",
            &PROMPT_PLACEHOLDERS,
        )
        .unwrap();
        assert!(check("{round}", &PROMPT_PLACEHOLDERS).is_err());
    }
}
