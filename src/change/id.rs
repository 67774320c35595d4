//! Change ids. An id becomes a path component, part of the branch name `conflux/<id>` and a
//! shell word, so only a small, safe alphabet is accepted.

/// Why an id was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{id}` is not a valid change id: {reason} (use lowercase letters, digits, `-`, `_` and `.`)"
)]
pub struct InvalidId {
    pub id: String,
    pub reason: &'static str,
}

/// Accepts lowercase ASCII letters, digits, `-`, `_` and `.`; refuses an empty id, a leading
/// `-` (read as an option) or `.` (hidden, and refused in git ref names), `..`, and a trailing
/// `.` or `.lock`, which git refuses in a branch name.
pub fn validate_id(id: &str) -> Result<(), InvalidId> {
    let reason = if id.is_empty() {
        Some("it is empty")
    } else if let Some(c) = id
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
    {
        Some(match c {
            '/' | '\\' => "it contains a path separator",
            'A'..='Z' => "it contains an uppercase letter",
            c if c.is_whitespace() => "it contains whitespace",
            _ => "it contains a character outside the allowed set",
        })
    } else if id.starts_with('-') {
        Some("it starts with `-`")
    } else if id.starts_with('.') {
        Some("it starts with `.`")
    } else if id.contains("..") {
        Some("it contains `..`")
    } else if id.ends_with('.') {
        Some("it ends with `.`")
    } else if id.ends_with(".lock") {
        Some("it ends with `.lock`")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(InvalidId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn accepts_the_safe_alphabet() {
        for id in ["add-login", "001-user-auth", "v1.2_fix", "a", "x.y-z_9"] {
            assert_eq!(validate_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn refuses_unsafe_ids_with_a_reason() {
        for (id, reason) in [
            ("", "empty"),
            ("a/b", "path separator"),
            ("Add", "uppercase"),
            ("a b", "whitespace"),
            ("-rf", "starts with `-`"),
            (".hidden", "starts with `.`"),
            ("a..b", "`..`"),
            ("a.", "ends with `.`"),
            ("x.lock", "`.lock`"),
            ("é", "outside the allowed set"),
            ("a;rm", "outside the allowed set"),
        ] {
            let err = validate_id(id).expect_err(id);
            assert!(err.reason.contains(reason), "{id}: {}", err.reason);
            assert!(err.to_string().contains(&format!("`{id}`")));
        }
    }
}
