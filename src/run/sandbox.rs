//! Agents in a sandbox: what a sandboxed process may see and write, and the command line
//! (bubblewrap, or a podman/docker container) that enforces it.
//!
//! The rule, one list of [`Mount`]s for both runtimes: the file system read-only; the
//! change's worktree writable, and of its git directory exactly what that worktree's own
//! commits write: its admin dir (`<common>/worktrees/<name>`: HEAD, index), the object store,
//! and its branch's ref and reflog. `$HOME` is an empty tmpfs but for the agent's own
//! configuration and credentials (named per preset) and `sandbox.allow`.
//!
//! How the ref rule is enforced: a ref update writes `<ref>.lock` and renames it over the ref,
//! so the ref's directory (`refs/heads/conflux/`) must be writable. It is bound read-write,
//! and every other entry in it (other change branches) is bound read-only on top: such an
//! entry can be neither written (read-only mount) nor replaced or deleted by a rename (a
//! mount point cannot be). Everything else under the common dir (`refs/heads/main`,
//! `packed-refs`, `config`, `hooks/`) stays read-only. Limits: objects are shared, so an agent
//! can add objects but moves no ref but its own; a branch created in that directory after
//! the sandbox started, or one that exists only in `packed-refs`, can be shadowed by a new
//! loose ref of that name.
//!
//! With bubblewrap the process also gets its own PID namespace (`--unshare-pid`,
//! `--die-with-parent`): when its first process ends or is killed, the kernel ends every
//! process inside, `setsid` escapees and double forks included, so no `/proc` sweep is needed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::agent::presets::{AgentSpec, Invocation};
use crate::agent::runner::Wrap;
use crate::git::layout::{self, Layout};

/// Which sandbox runs a change's processes (`sandbox:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// No sandbox: processes run as the user, with the user's authority.
    #[default]
    None,
    /// bubblewrap (`bwrap`), Linux only.
    Bwrap,
    /// One container per process, through the runtime's CLI.
    Container { runtime: Runtime, image: String },
}

/// A container runtime's CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Podman,
    Docker,
}

impl Runtime {
    pub fn program(self) -> &'static str {
        match self {
            Runtime::Podman => "podman",
            Runtime::Docker => "docker",
        }
    }
}

/// Whether the sandboxed process reaches the network (`sandbox.network`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// The host's network, 127.0.0.1 included (the agent needs its model API).
    #[default]
    Host,
    /// None at all.
    None,
}

/// One `sandbox.allow` entry: a path made visible, read-only or writable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    /// Absolute, or `~/…` (under `$HOME`).
    pub path: String,
    pub write: bool,
}

/// The resolved `sandbox:` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub kind: Kind,
    /// Setup, verify, archive and hooks run sandboxed too (`sandbox.commands`).
    pub commands: bool,
    pub allow: Vec<Allow>,
    pub network: Network,
}

/// Why a sandbox cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`sandbox: bwrap` needs bubblewrap, which is Linux only; this system is {os}: set `sandbox: none`, or use `sandbox: {{runtime: podman, image: …}}`"
    )]
    NotLinux { os: &'static str },
    #[error(
        "`sandbox: bwrap` needs bubblewrap, but `bwrap` is not on PATH ({path}): install the package `bubblewrap` (apt-get install bubblewrap, dnf install bubblewrap), or set `sandbox: none`"
    )]
    BwrapMissing { path: String },
    #[error(
        "bubblewrap cannot create its namespaces here ({stderr}): the kernel refuses unprivileged user namespaces; allow them with `sysctl -w kernel.unprivileged_userns_clone=1` (Debian) or `sysctl -w user.max_user_namespaces=15000`, or set `sandbox: none`"
    )]
    UserNamespaces { stderr: String },
    #[error(
        "`sandbox.runtime: {runtime}` needs `{runtime}` on PATH ({path}): install it, or set `sandbox: bwrap` or `sandbox: none`"
    )]
    RuntimeMissing { runtime: &'static str, path: String },
    #[error(
        "`sandbox.runtime: {runtime}` needs `sandbox.image`, the image the agent runs in: set it in .conflux.yaml"
    )]
    NoImage { runtime: &'static str },
    #[error(
        "cannot sandbox a process in {}: {source}; it must be a git worktree",
        dir.display()
    )]
    Layout {
        dir: PathBuf,
        source: crate::git::open::Error,
    },
}

/// What a sandboxed process may see, in order (later mounts lie over earlier ones); the
/// source and the target are the same path, so paths in prompts stay true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mount {
    ReadOnly(PathBuf),
    Writable(PathBuf),
    /// An empty, private, writable file system.
    Tmpfs(PathBuf),
}

/// Directories under `$HOME` that a preset's CLI keeps its configuration and credentials
/// in, bound writable (CLIs refresh their tokens), and the variables that move them.
fn preset_paths(preset: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match preset {
        "claude" => (
            &[".claude", ".claude.json", ".config/claude"],
            &["CLAUDE_CONFIG_DIR"],
        ),
        "codex" => (&[".codex"], &["CODEX_HOME"]),
        "gemini" => (&[".gemini"], &[]),
        "opencode" => (
            &[
                ".config/opencode",
                ".local/share/opencode",
                ".local/state/opencode",
                ".cache/opencode",
            ],
            &[],
        ),
        "aider" => (&[".aider", ".aider.conf.yml"], &[]),
        _ => (&[], &[]),
    }
}

/// What a process sees of `home` besides the tmpfs: its agent's own paths (its preset's
/// directories, and those the preset's variables name in `env`, the run's environment, then
/// the process's) writable, and git's own configuration read-only, so that the agent's
/// commits carry the user's identity.
pub(crate) fn own_paths(
    spec: Option<&AgentSpec>,
    home: Option<&Path>,
    env: &[(String, String)],
) -> Vec<Mount> {
    let preset = match spec {
        Some(AgentSpec::Preset(name) | AgentSpec::Tuned { preset: name, .. }) => name.as_str(),
        _ => "",
    };
    let (dirs, vars) = preset_paths(preset);
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| OsString::from(v))
            .or_else(|| std::env::var_os(name))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let mut paths = Vec::new();
    if let Some(home) = home {
        paths.extend(dirs.iter().map(|d| Mount::Writable(home.join(d))));
    }
    paths.extend(vars.iter().filter_map(|v| var(v)).map(Mount::Writable));
    if let Some(home) = home {
        paths.extend(
            [".gitconfig", ".config/git"]
                .iter()
                .map(|p| Mount::ReadOnly(home.join(p))),
        );
    }
    paths.extend(var("GIT_CONFIG_GLOBAL").map(Mount::ReadOnly));
    paths
}

/// `~/x` against `home`; an absolute path as it is; anything else is not a path we take.
fn expand(path: &str, home: Option<&Path>) -> Option<PathBuf> {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Some(home.join(rest)),
        (None, _) if Path::new(path).is_absolute() => Some(PathBuf::from(path)),
        _ => None,
    }
}

/// Whether `path` is a usable `sandbox.allow` path: absolute, or under `~/`.
pub(crate) fn check_allow_path(path: &str) -> Result<(), String> {
    if path.starts_with("~/") || Path::new(path).is_absolute() {
        return Ok(());
    }
    Err(format!(
        "`{path}` must be an absolute path or start with ~/"
    ))
}

/// What the process may see and write. `layout` is its working directory's git layout:
/// a linked worktree (a change's) gets itself and its git paths writable; any other
/// directory (the main checkout, where hooks run) is visible read-only. `home` becomes a
/// tmpfs (`path_dirs` under it, `own_paths` and `sandbox.allow` shown again);
/// `home` must be absolute and not `/`.
pub(crate) fn mounts(
    settings: &Settings,
    layout: &Layout,
    home: Option<&Path>,
    own_paths: &[Mount],
    path_dirs: &[PathBuf],
) -> Vec<Mount> {
    let mut mounts = Vec::new();
    if let Some(home) = home {
        mounts.push(Mount::Tmpfs(home.to_owned()));
        mounts.extend(
            path_dirs
                .iter()
                .filter(|d| d.starts_with(home) && d.is_dir())
                .map(|d| Mount::ReadOnly(d.clone())),
        );
    }
    mounts.extend(own_paths.iter().filter(|m| mount_path(m).exists()).cloned());
    for allow in &settings.allow {
        let Some(path) = expand(&allow.path, home).filter(|p| p.exists()) else {
            continue;
        };
        mounts.push(if allow.write {
            Mount::Writable(path)
        } else {
            Mount::ReadOnly(path)
        });
    }
    if !layout.is_linked() {
        mounts.push(Mount::ReadOnly(layout.worktree.clone()));
        return mounts;
    }
    let common = &layout.common_dir;
    mounts.push(Mount::ReadOnly(common.clone()));
    mounts.push(Mount::Writable(common.join("objects")));
    mounts.push(Mount::Writable(layout.git_dir.clone()));
    if let Some(name) = &layout.branch_ref {
        mounts.extend(only_entry_writable(&common.join(name)));
        mounts.extend(only_entry_writable(&common.join("logs").join(name)));
    }
    mounts.push(Mount::Writable(layout.worktree.clone()));
    mounts
}

/// The directory of `file` writable, and every other entry in it read-only on top, so that
/// `file` (and its `.lock` beside it) can be written and renamed, and nothing else there.
fn only_entry_writable(file: &Path) -> Vec<Mount> {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut others: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name() != name)
        .map(|e| e.path())
        .collect();
    others.sort();
    std::iter::once(Mount::Writable(dir.to_owned()))
        .chain(others.into_iter().map(Mount::ReadOnly))
        .collect()
}

/// The bubblewrap command line that shows `mounts` over a read-only root, in a PID
/// namespace that ends with its first process, working in `cwd`.
pub(crate) fn bwrap_argv(mounts: &[Mount], network: Network, cwd: &Path) -> Vec<OsString> {
    let mut argv: Vec<OsString> = [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
    ]
    .map(OsString::from)
    .to_vec();
    if network == Network::None {
        argv.push("--unshare-net".into());
    }
    for mount in mounts {
        let (flag, path) = match mount {
            Mount::ReadOnly(p) => ("--ro-bind", p),
            Mount::Writable(p) => ("--bind", p),
            Mount::Tmpfs(p) => ("--tmpfs", p),
        };
        argv.push(flag.into());
        if flag != "--tmpfs" {
            argv.push(path.into());
        }
        argv.push(path.into());
    }
    argv.push("--chdir".into());
    argv.push(cwd.into());
    argv.push("--".into());
    argv
}

/// The container runtime's command line: the same mounts over the image's read-only root,
/// the run's variables passed by name (their values never appear in the argv), removed
/// when it ends, with an init that reaps and ends what the agent leaves.
pub(crate) fn container_argv(
    runtime: Runtime,
    image: &str,
    mounts: &[Mount],
    network: Network,
    cwd: &Path,
    env_names: &[&str],
    stdin: bool,
) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![
        runtime.program().into(),
        "run".into(),
        "--rm".into(),
        "--init".into(),
        "--read-only".into(),
    ];
    if stdin {
        argv.push("--interactive".into());
    }
    match runtime {
        // The user's own uid inside, so files written in the worktree stay theirs.
        Runtime::Podman => argv.push("--userns=keep-id".into()),
        Runtime::Docker => {
            let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
            argv.push(format!("--user={uid}:{gid}").into());
        }
    }
    argv.push(
        match network {
            Network::Host => "--network=host",
            Network::None => "--network=none",
        }
        .into(),
    );
    for mount in mounts {
        let p = mount_path(mount).display();
        argv.push(match mount {
            Mount::ReadOnly(_) => format!("--volume={p}:{p}:ro").into(),
            Mount::Writable(_) => format!("--volume={p}:{p}:rw").into(),
            Mount::Tmpfs(_) => format!("--tmpfs={p}").into(),
        });
    }
    for name in env_names {
        argv.push(format!("--env={name}").into());
    }
    let mut workdir = OsString::from("--workdir=");
    workdir.push(cwd);
    argv.push(workdir);
    argv.push(image.into());
    argv
}

fn mount_path(mount: &Mount) -> &Path {
    match mount {
        Mount::ReadOnly(p) | Mount::Writable(p) | Mount::Tmpfs(p) => p,
    }
}

/// The wrapper for a process of the run working in `cwd` with `invocation`, or `None` when
/// no sandbox is configured.
pub fn wrap(
    settings: &Settings,
    spec: Option<&AgentSpec>,
    invocation: &mut Invocation,
    cwd: &Path,
) -> Result<Option<Wrap>, Error> {
    if settings.kind == Kind::None {
        return Ok(None);
    }
    let layout = layout::layout(cwd).map_err(|source| Error::Layout {
        dir: cwd.to_owned(),
        source,
    })?;
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute() && h.parent().is_some());
    let own = own_paths(spec, home.as_deref(), &invocation.env);
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mounts = mounts(settings, &layout, home.as_deref(), &own, &path_dirs);
    if let Some(home) = &home {
        // The tmpfs home is the one writable scratch space outside the worktree.
        invocation
            .env
            .push(("TMPDIR".into(), home.display().to_string()));
    }
    Ok(Some(match &settings.kind {
        Kind::None => return Ok(None),
        Kind::Bwrap => Wrap {
            argv: bwrap_argv(
                &mounts,
                settings.network,
                &std::path::absolute(cwd).unwrap_or_else(|_| cwd.to_owned()),
            ),
            term_inside: true,
        },
        Kind::Container { runtime, image } => {
            let mut names: Vec<&str> = invocation.env.iter().map(|(k, _)| k.as_str()).collect();
            names.push("HOME");
            names.sort_unstable();
            names.dedup();
            Wrap {
                argv: container_argv(
                    *runtime,
                    image,
                    &mounts,
                    settings.network,
                    cwd,
                    &names,
                    invocation.stdin.is_some(),
                ),
                term_inside: false,
            }
        }
    }))
}

/// Checks, before any worktree exists, that the configured sandbox can run here.
pub(crate) fn preflight(settings: &Settings) -> Result<(), Error> {
    let path = || {
        std::env::var_os("PATH")
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    match &settings.kind {
        Kind::None => Ok(()),
        Kind::Bwrap if !cfg!(target_os = "linux") => Err(Error::NotLinux {
            os: std::env::consts::OS,
        }),
        Kind::Bwrap => {
            if which::which("bwrap").is_err() {
                return Err(Error::BwrapMissing { path: path() });
            }
            probe_bwrap()
        }
        Kind::Container { runtime, image } => {
            if image.trim().is_empty() {
                return Err(Error::NoImage {
                    runtime: runtime.program(),
                });
            }
            which::which(runtime.program())
                .map(|_| ())
                .map_err(|_| Error::RuntimeMissing {
                    runtime: runtime.program(),
                    path: path(),
                })
        }
    }
}

/// Runs `true` in the namespaces an agent gets: a kernel that refuses them says so here,
/// not in the middle of a run.
fn probe_bwrap() -> Result<(), Error> {
    let mut argv = bwrap_argv(&[], Network::Host, Path::new("/"));
    argv.push("true".into());
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(Error::UserNamespaces {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
        Err(e) => Err(Error::UserNamespaces {
            stderr: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::plan::tests::git;

    /// A repository on `main` with branches conflux/a (checked out in worktree `wt`) and
    /// conflux/b; returns (temp dir, main root, worktree).
    fn repo() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("repo");
        std::fs::create_dir_all(&root).unwrap();
        git(&root, &["init", "-q", "-b", "main"]);
        git(&root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&root, &["branch", "conflux/b"]);
        let wt = base.join("wt");
        git(
            &root,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "conflux/a",
                wt.to_str().unwrap(),
            ],
        );
        (dir, root, wt)
    }

    #[test]
    fn a_worktree_writes_its_admin_dir_objects_and_only_its_own_branch() {
        let (_dir, root, wt) = repo();
        let layout = layout::layout(&wt).unwrap();
        let git = root.join(".git");
        let home = root.parent().unwrap().join("home");
        let settings = Settings {
            kind: Kind::Bwrap,
            allow: vec![Allow {
                path: "/usr".into(),
                write: false,
            }],
            ..Settings::default()
        };

        let mounts = mounts(&settings, &layout, Some(&home), &[], &[]);

        use Mount::*;
        assert_eq!(
            mounts,
            [
                Tmpfs(home),
                ReadOnly("/usr".into()),
                ReadOnly(git.clone()),
                Writable(git.join("objects")),
                Writable(git.join("worktrees/wt")),
                Writable(git.join("refs/heads/conflux")),
                ReadOnly(git.join("refs/heads/conflux/b")),
                Writable(git.join("logs/refs/heads/conflux")),
                ReadOnly(git.join("logs/refs/heads/conflux/b")),
                Writable(wt),
            ]
        );
    }

    #[test]
    fn the_main_checkout_is_only_read() {
        let (_dir, root, _wt) = repo();
        let layout = layout::layout(&root).unwrap();
        let mounts = mounts(&Settings::default(), &layout, None, &[], &[]);
        assert_eq!(mounts, [Mount::ReadOnly(root)]);
    }

    #[test]
    fn the_agents_own_paths_and_path_entries_under_home_are_shown_again() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap();
        for d in [".claude", ".local/bin", "elsewhere"] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::fs::write(home.join(".gitconfig"), "").unwrap();
        let spec = AgentSpec::Preset("claude".into());
        let env = vec![
            (
                "CLAUDE_CONFIG_DIR".to_owned(),
                home.join("elsewhere").display().to_string(),
            ),
            ("GIT_CONFIG_GLOBAL".to_owned(), "/nonexistent".to_owned()),
        ];
        let own = own_paths(Some(&spec), Some(&home), &env);
        let layout = Layout {
            worktree: home.join("repo"),
            git_dir: home.join("repo/.git"),
            common_dir: home.join("repo/.git"),
            branch_ref: None,
        };
        let path_dirs = [home.join(".local/bin"), "/usr/bin".into()];

        let mounts = mounts(&Settings::default(), &layout, Some(&home), &own, &path_dirs);

        use Mount::*;
        assert_eq!(
            mounts,
            [
                Tmpfs(home.clone()),
                ReadOnly(home.join(".local/bin")),
                Writable(home.join(".claude")),
                Writable(home.join("elsewhere")),
                ReadOnly(home.join(".gitconfig")),
                ReadOnly(home.join("repo")),
            ]
        );
    }

    fn strings(argv: &[OsString]) -> Vec<String> {
        argv.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn sample() -> Vec<Mount> {
        vec![
            Mount::Tmpfs("/home/u".into()),
            Mount::ReadOnly("/r/.git".into()),
            Mount::Writable("/r.conflux/a".into()),
        ]
    }

    #[test]
    fn bwrap_gets_a_read_only_root_its_own_pid_namespace_and_the_mounts_in_order() {
        let argv = bwrap_argv(&sample(), Network::None, Path::new("/r.conflux/a"));
        assert_eq!(
            strings(&argv).join(" "),
            "bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --unshare-ipc \
             --unshare-uts --unshare-cgroup-try --die-with-parent --unshare-net \
             --tmpfs /home/u --ro-bind /r/.git /r/.git --bind /r.conflux/a /r.conflux/a \
             --chdir /r.conflux/a --"
        );
        let host = bwrap_argv(&[], Network::Host, Path::new("/"));
        assert!(!strings(&host).contains(&"--unshare-net".to_owned()));
    }

    #[test]
    fn a_container_gets_the_same_mounts_at_the_same_paths() {
        let argv = container_argv(
            Runtime::Podman,
            "agents:1",
            &sample(),
            Network::Host,
            Path::new("/r.conflux/a"),
            &["CONFLUX_CHANGE_ID", "HOME"],
            true,
        );
        assert_eq!(
            strings(&argv).join(" "),
            "podman run --rm --init --read-only --interactive --userns=keep-id --network=host \
             --tmpfs=/home/u --volume=/r/.git:/r/.git:ro --volume=/r.conflux/a:/r.conflux/a:rw \
             --env=CONFLUX_CHANGE_ID --env=HOME --workdir=/r.conflux/a agents:1"
        );
        let docker = strings(&container_argv(
            Runtime::Docker,
            "agents:1",
            &[],
            Network::None,
            Path::new("/w"),
            &[],
            false,
        ));
        let user = format!("--user={}:{}", nix::unistd::getuid(), nix::unistd::getgid());
        assert_eq!(
            docker,
            [
                "docker",
                "run",
                "--rm",
                "--init",
                "--read-only",
                &user,
                "--network=none",
                "--workdir=/w",
                "agents:1"
            ]
        );
    }

    #[test]
    fn a_container_needs_an_image_and_its_runtime() {
        let settings = |runtime, image: &str| Settings {
            kind: Kind::Container {
                runtime,
                image: image.into(),
            },
            ..Settings::default()
        };
        let err = preflight(&settings(Runtime::Podman, "")).unwrap_err();
        assert!(err.to_string().contains("needs `sandbox.image`"), "{err}");
        if which::which("docker").is_err() {
            let err = preflight(&settings(Runtime::Docker, "img")).unwrap_err();
            assert!(err.to_string().contains("needs `docker` on PATH"), "{err}");
        }
    }
}
