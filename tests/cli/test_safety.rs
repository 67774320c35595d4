//! Links that lead out of the repository and special files (FIFOs, devices) are never
//! followed, opened or written through: `copy:`, configuration and change files.

use std::os::unix::fs::symlink;
use std::time::Duration;

use crate::support::TestEnv;

/// Generous bound for a command that hangs on the unfixed code; never a timing assertion.
const HANG: Duration = Duration::from_secs(60);

fn mkfifo(path: &std::path::Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

#[test]
fn copy_never_writes_through_a_link_out_of_the_repository() {
    for entry in ["link", "linkdir"] {
        let env = TestEnv::new();
        let outside = env.path().join("outside.txt");
        std::fs::write(&outside, "precious\n").unwrap();
        let outside_dir = env.path().join("outside-dir");
        std::fs::create_dir(&outside_dir).unwrap();
        std::fs::write(outside_dir.join("f.txt"), "keep\n").unwrap();
        symlink(&outside, env.root.join("link")).unwrap();
        symlink(&outside_dir, env.root.join("linkdir")).unwrap();
        env.one_change("a", &format!("copy: [{entry}]\n"));
        env.commit_all("links");
        let out = env.conflux_bounded(&["start"], HANG);
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious\n", "{out}");
        assert_eq!(
            std::fs::read(outside_dir.join("f.txt")).unwrap(),
            b"keep\n",
            "{out}"
        );
        assert_eq!(out.code, 2, "{out}");
        assert!(
            out.stderr
                .contains(&format!("copy: {entry} is a link leading outside")),
            "{out}"
        );
        assert!(!env.worktree("a").exists(), "refused before any worktree");
    }
}

#[test]
fn copy_refuses_a_fifo_by_name_and_start_ends() {
    let env = TestEnv::new();
    env.one_change("a", "copy: [.env]\n");
    env.commit_all("change");
    mkfifo(&env.root.join(".env"));
    let out = env.conflux_bounded(&["start"], HANG);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("copy: .env is a FIFO; only regular files and folders are copied"),
        "{out}"
    );
}

#[test]
fn copy_keeps_files_and_links_inside_the_repository() {
    let env = TestEnv::new();
    env.one_change("a", "copy: [conf]\n");
    env.commit_all("change");
    // Untracked, as files listed in `copy:` usually are.
    env.write("conf/secret.env", "KEY=1\n");
    symlink("secret.env", env.root.join("conf/alias.env")).unwrap();
    let out = env.conflux_bounded(&["start"], HANG);
    assert_eq!(out.code, 0, "{out}");
    let wt = env.worktree("a");
    assert_eq!(
        std::fs::read_to_string(wt.join("conf/secret.env")).unwrap(),
        "KEY=1\n"
    );
    assert_eq!(
        std::fs::read_link(wt.join("conf/alias.env")).unwrap(),
        std::path::Path::new("secret.env")
    );
}

#[test]
fn config_link_out_of_the_repository_is_refused_and_never_printed() {
    let env = TestEnv::new();
    let outside = env.path().join("shadow");
    std::fs::write(&outside, "root:SECRET-HASH:19000:0:99999:7:::\n").unwrap();
    env.one_change("a", "");
    std::fs::remove_file(env.root.join(".conflux.yaml")).unwrap();
    symlink(&outside, env.root.join(".conflux.yaml")).unwrap();
    env.commit_all("linked config");
    // `status` does not read the configuration; `start` does, dry or not.
    for command in [&["start", "--dry-run"][..], &["start"]] {
        let out = env.conflux_bounded(command, HANG);
        assert_eq!(out.code, 2, "{command:?}: {out}");
        assert!(
            out.stderr
                .contains(".conflux.yaml: leads outside the repository"),
            "{command:?}: {out}"
        );
        assert!(!out.to_string().contains("SECRET"), "{command:?}: {out}");
    }
}

#[test]
fn config_link_to_a_device_is_refused_at_once() {
    let env = TestEnv::new();
    symlink("/dev/zero", env.root.join(".conflux.yaml")).unwrap();
    let out = env.conflux_bounded(&["start", "--dry-run"], HANG);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(".conflux.yaml"), "{out}");
    // The user's own file may be a link (into a dotfiles repository), but not to a device.
    std::fs::remove_file(env.root.join(".conflux.yaml")).unwrap();
    let user = env.home.join(".config/conflux");
    std::fs::create_dir_all(&user).unwrap();
    symlink("/dev/zero", user.join("config.yaml")).unwrap();
    let out = env.conflux_bounded(&["start", "--dry-run"], HANG);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("config.yaml: is a character device"),
        "{out}"
    );
}

#[test]
fn oversized_config_is_refused_naming_the_limit() {
    let env = TestEnv::new();
    let line = "# padding padding padding padding padding padding padding padding\n";
    let text = line.repeat((16 << 20) / line.len() + 1);
    env.write(".conflux.yaml", &text);
    let out = env.conflux_bounded(&["start", "--dry-run"], HANG);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(".conflux.yaml: is larger than 16 MiB"),
        "{out}"
    );
}

#[test]
fn fifo_as_tasks_file_does_not_hang_status_or_start() {
    let env = TestEnv::new();
    env.one_change("a", "");
    std::fs::remove_file(env.root.join("openspec/changes/a/tasks.md")).unwrap();
    env.commit_all("change without tasks");
    mkfifo(&env.root.join("openspec/changes/a/tasks.md"));
    let out = env.conflux_bounded(&["status", "-v"], HANG);
    assert!(
        out.to_string()
            .contains("openspec/changes/a/tasks.md: is a FIFO"),
        "{out}"
    );
    let out = env.conflux_bounded(&["start", "--dry-run"], HANG);
    assert_ne!(out.code, 255, "{out}");
}

#[test]
fn copy_replaces_a_checked_out_link_instead_of_writing_through_it() {
    let env = TestEnv::new();
    let outside = env.path().join("outside.txt");
    std::fs::write(&outside, "precious\n").unwrap();
    symlink(&outside, env.root.join("cfg")).unwrap();
    env.one_change("a", "copy: [cfg]\n");
    env.commit_all("a committed link");
    // In the main checkout the link is now a real file; the new worktree checks the link out.
    std::fs::remove_file(env.root.join("cfg")).unwrap();
    std::fs::write(env.root.join("cfg"), "local\n").unwrap();
    let out = env.conflux_bounded(&["start"], HANG);
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious\n", "{out}");
    assert_eq!(out.code, 0, "{out}");
    let copied = env.worktree("a").join("cfg");
    assert!(!copied.is_symlink(), "{out}");
    assert_eq!(std::fs::read_to_string(copied).unwrap(), "local\n");
}
