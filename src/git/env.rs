//! Git's repository-local environment variables (`git rev-parse --local-env-vars`).
//!
//! `git --git-dir=… conflux`, a git hook, an IDE or a CI runner export `GIT_DIR`,
//! `GIT_WORK_TREE`, `GIT_INDEX_FILE` and their kin. conflux honours `GIT_DIR` and
//! `GIT_WORK_TREE` to find the repository, like git, and then forgets all of them: gix would
//! otherwise apply `GIT_WORK_TREE`/`GIT_INDEX_FILE` to every worktree it opens (committing
//! the user's checkout onto a change branch), and an agent's `git checkout -- .` would run
//! on the user's checkout.

use std::ffi::OsStr;
use std::path::PathBuf;

/// What `git rev-parse --local-env-vars` prints (git 2.x), plus the superproject prefix
/// older gits list.
const LOCAL_VARS: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
];

/// The repository git's environment pointed at, read once at startup.
#[derive(Clone, Debug, Default)]
pub struct RepoEnv {
    /// `GIT_DIR`, made absolute against the working directory (as git resolves it).
    pub git_dir: Option<PathBuf>,
    /// `GIT_WORK_TREE`, made absolute the same way.
    pub work_tree: Option<PathBuf>,
}

impl RepoEnv {
    /// Reads `GIT_DIR` and `GIT_WORK_TREE`, then removes every repository-local variable
    /// from this process, so that neither gix nor any child process (agent, verify, setup,
    /// hooks, resolve, archive) sees them. A user's `env:` in the configuration is applied
    /// to children afterwards and may still set them.
    ///
    /// # Safety
    ///
    /// Changes the process environment: call it before any other thread exists.
    pub unsafe fn take() -> RepoEnv {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(|v| std::path::absolute(&v).unwrap_or_else(|_| PathBuf::from(v)))
        };
        let env = RepoEnv {
            git_dir: path("GIT_DIR"),
            work_tree: path("GIT_WORK_TREE"),
        };
        for (name, _) in std::env::vars_os().filter(|(name, _)| is_repository_local(name)) {
            // SAFETY: the caller guarantees that no other thread exists yet.
            unsafe { std::env::remove_var(name) };
        }
        env
    }
}

/// Whether `name` is one of git's repository-local variables, or one of the numbered
/// `GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>` pairs that `GIT_CONFIG_COUNT` brings.
fn is_repository_local(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    LOCAL_VARS.contains(&name)
        || ["GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"]
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|n| !n.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_git_calls_local_is_dropped() {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "--local-env-vars"])
            .output()
            .expect("run git");
        assert!(out.status.success());
        let listed = String::from_utf8(out.stdout).unwrap();
        assert!(listed.contains("GIT_DIR"), "{listed}");
        for name in listed.lines() {
            assert!(is_repository_local(OsStr::new(name)), "{name} is kept");
        }
        assert!(is_repository_local(OsStr::new("GIT_CONFIG_KEY_0")));
        assert!(is_repository_local(OsStr::new("GIT_CONFIG_VALUE_12")));
        for kept in [
            "GIT_CONFIG_GLOBAL",
            "GIT_AUTHOR_DATE",
            "GIT_EXEC_PATH",
            "HOME",
        ] {
            assert!(!is_repository_local(OsStr::new(kept)), "{kept} is dropped");
        }
    }
}
