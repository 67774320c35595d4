//! The one hermetic environment every test's `git` (and git-conflux) runs in: its own global
//! config file, no system config, its own HOME, fixed dates, and none of the repository
//! variables of the shell that started the tests.

use std::path::Path;
use std::process::Command;

/// Makes `cmd` hermetic for git: `home` is its HOME, `global_config` its global config file.
pub fn git_env(cmd: &mut Command, home: &Path, global_config: &Path) {
    cmd.env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", global_config)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
    ] {
        cmd.env_remove(var);
    }
}
