//! "Did you mean …?": the closest known name to a mistyped one (ids, presets, keys), as
//! git, cargo and clap suggest.

/// The known name closest to `word`, when it is close enough to be a typo: at most one edit
/// per three characters (at least one; swapping two neighbours is one edit).
pub(crate) fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (strsim::osa_distance(word, k), k))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// "did you mean `x`?" for the closest known name, to follow a message that names the
/// unknown word; `None` when nothing is close.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, known).map(|k| format!("did you mean `{k}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word_and_strangers_find_none() {
        let ids = ["add-login", "fix-bug", "add-logout"];
        assert_eq!(closest("add-logn", ids), Some("add-login"));
        assert_eq!(closest("claud", ["claude", "codex"]), Some("claude"));
        assert_eq!(closest("job", ["jobs", "base"]), Some("jobs"));
        assert_eq!(closest("zzz", ids), None);
        assert_eq!(
            did_you_mean("claud", ["claude"]).as_deref(),
            Some("did you mean `claude`?")
        );
        assert_eq!(did_you_mean("xyz", ["claude"]), None);
    }
}
