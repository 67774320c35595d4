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
    let values: [(&str, String); 11] = [
        ("change_id", input.change.id.clone()),
        (
            "title",
            input
                .change
                .title
                .clone()
                .unwrap_or_else(|| input.change.id.clone()),
        ),
        ("documents", documents),
        ("change_dir", dir.clone()),
        ("proposal", format!("{dir}/proposal.md")),
        ("tasks_file", input.change.tasks_file.display().to_string()),
        ("open_tasks", open),
        ("iteration", input.iteration.to_string()),
        ("verify_failure", verify),
        ("review_findings", findings),
        ("messages", messages),
    ];
    substitute(template, &values)
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
    let values: [(&str, String); 7] = [
        ("change_id", change.id.clone()),
        (
            "title",
            change.title.clone().unwrap_or_else(|| change.id.clone()),
        ),
        ("documents", documents),
        ("tasks_file", change.tasks_file.display().to_string()),
        ("branch", branch.to_owned()),
        ("start_commit", start_commit.to_owned()),
        ("round", round.to_string()),
    ];
    substitute(template.unwrap_or(DEFAULT_REVIEW_TEMPLATE), &values)
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
    let values: [(&str, String); 8] = [
        ("change_id", change.id.clone()),
        (
            "title",
            change.title.clone().unwrap_or_else(|| change.id.clone()),
        ),
        ("branch", input.branch.to_owned()),
        ("base", input.base.to_owned()),
        ("conflicts", bounded(&list(input.conflicts, "(none)"), 8000)),
        (
            "proposal",
            format!("read {}", proposal_of(change).display()),
        ),
        (
            "base_side",
            bounded(
                &list(
                    input.base_side,
                    "- (no change merged by git-conflux is known; the commits tell)",
                ),
                4000,
            ),
        ),
        (
            "verify",
            input
                .verify
                .map(|v| format!(", runs the verify command `{v}`"))
                .unwrap_or_default(),
        ),
    ];
    substitute(RESOLVE_TEMPLATE, &values)
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
fn substitute(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let hit = after.find('}').and_then(|end| {
            let name = &after[..end];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (v, end))
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
            &[("a", "{b}".into()), ("b", "x".into())],
        );
        assert_eq!(out, "{b} x {unknown} {");
    }
}
