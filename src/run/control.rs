//! The run's control socket: requests from other terminals in, the event stream out.
//!
//! A running `start` listens on `<git-common-dir>/conflux/control.sock` (a folder of the
//! owner's only, the socket 0600; a peer of another uid is refused by its credentials). The
//! protocol is JSON lines, versioned by `"v"`: a client sends one [`Request`] line and reads one
//! [`Reply`] line; after `subscribe`, it then reads one [`Event`] line per event (the schema of
//! `start --json`) until the run ends and the socket closes. Requests reach the dispatcher as
//! inputs like any other; the socket runs nothing of its own.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::run::event::{ChangeEvent, Event, Stamped};
use crate::run::state::RunDir;

/// The protocol's version, in every request and reply.
pub const VERSION: u32 = 1;

/// What another terminal asks of the running `start`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Run these changes too (`git conflux start ID…` while a run is active); `jobs` changes
    /// the number of slots.
    Add {
        ids: Vec<String>,
        jobs: Option<usize>,
    },
    /// Stop these changes gracefully (`git conflux stop ID…`): work committed, `cancelled`.
    Stop { ids: Vec<String> },
    /// Queue `message` into the change's next iteration prompt (`git conflux tell`); `now`
    /// also ends the current iteration gracefully so that the next starts with it.
    Tell {
        id: String,
        message: String,
        now: bool,
    },
    /// The event stream (`git conflux status --watch`): the run so far, then every event.
    Subscribe,
}

/// The answer to one request: what was done, per id, in words for the person who asked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub v: u32,
    pub ok: bool,
    /// One line per thing done or refused ("added b", "a is already running").
    pub lines: Vec<String>,
}

impl Reply {
    pub fn ok(lines: Vec<String>) -> Reply {
        Reply {
            v: VERSION,
            ok: true,
            lines,
        }
    }

    pub fn refused(line: String) -> Reply {
        Reply {
            v: VERSION,
            ok: false,
            lines: vec![line],
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    request: Request,
}

/// A request on its way to the dispatcher, with where its reply goes.
pub struct Incoming {
    pub request: Request,
    pub reply: oneshot::Sender<Reply>,
}

/// Why the control socket could not be reached or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no git conflux start is running in this repository")]
    NoRun,
    #[error("cannot talk to the running git conflux start over {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the running git conflux start answered something this version does not understand: {0}"
    )]
    Protocol(String),
}

/// Where the socket of a run dir lives. Unix socket paths are limited to about 100 bytes:
/// a deeper repository gets one under the temp dir, named by a hash of the run dir (both
/// sides compute the same).
pub fn socket_path(run_dir: &RunDir) -> PathBuf {
    let path = run_dir.root().join("control.sock");
    if path.as_os_str().len() < 100 {
        return path;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in run_dir.root().as_os_str().as_encoded_bytes() {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    std::env::temp_dir()
        .join(format!("git-conflux-{}", nix::unistd::geteuid()))
        .join(format!("{hash:016x}.sock"))
}

/// The listening socket of a run; the socket file goes when it is dropped.
pub struct Server {
    path: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Server {
    /// Listens for the run of `run_dir` (the caller holds the run lock, so a socket file
    /// already there is a dead run's) and passes requests to `requests`; subscribers get what
    /// `publisher` publishes.
    pub fn start(
        run_dir: &RunDir,
        requests: mpsc::UnboundedSender<Incoming>,
        publisher: Publisher,
    ) -> std::io::Result<Server> {
        let path = socket_path(run_dir);
        let dir = path.parent().unwrap_or(Path::new("/"));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        crate::files::remove_if_present(&path)?;
        let listener = tokio::net::UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let me = nix::unistd::geteuid().as_raw();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (requests, publisher) = (requests.clone(), publisher.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, me, requests, publisher).await;
                });
            }
        });
        Ok(Server { path })
    }
}

/// One connection: one request, one reply, then the events for a subscriber.
async fn serve(
    stream: tokio::net::UnixStream,
    me: u32,
    requests: mpsc::UnboundedSender<Incoming>,
    publisher: Publisher,
) -> std::io::Result<()> {
    let peer = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    let send = |reply: &Reply| {
        let mut line = serde_json::to_vec(reply).unwrap_or_default();
        line.push(b'\n');
        line
    };
    let mut line = String::new();
    // One request line, of a bounded length.
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, 64 * 1024));
    reader.read_line(&mut line).await?;
    if peer != me {
        let reply = Reply::refused(format!(
            "refused: uid {peer} does not own this run (uid {me})"
        ));
        return write.write_all(&send(&reply)).await;
    }
    let request = match serde_json::from_str::<Envelope>(&line) {
        Ok(envelope) if envelope.v == VERSION => envelope.request,
        Ok(envelope) => {
            let reply = Reply::refused(format!(
                "protocol version {} is not spoken here (this run speaks {VERSION})",
                envelope.v
            ));
            return write.write_all(&send(&reply)).await;
        }
        Err(e) => {
            let reply = Reply::refused(format!("not a request: {e}"));
            return write.write_all(&send(&reply)).await;
        }
    };
    if request == Request::Subscribe {
        let _active = Active::enter(&publisher.active);
        // Subscribe before taking the snapshot, so no event falls between the two.
        let mut live = publisher.sender.subscribe();
        let mut closed = publisher.closed.subscribe();
        let snapshot = publisher.snapshot();
        write.write_all(&send(&Reply::ok(Vec::new()))).await?;
        for line in snapshot {
            write.write_all(line.as_bytes()).await?;
        }
        loop {
            tokio::select! {
                biased;
                received = live.recv() => match received {
                    Ok(line) => write.write_all(line.as_bytes()).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                // The run is over: what is still queued goes out, then the stream ends.
                _ = closed.changed() => {
                    while let Ok(line) = live.try_recv() {
                        write.write_all(line.as_bytes()).await?;
                    }
                    return write.flush().await;
                }
            }
        }
    }
    let (tx, rx) = oneshot::channel();
    let reply = if requests.send(Incoming { request, reply: tx }).is_ok() {
        rx.await
            .unwrap_or_else(|_| Reply::refused("the run is ending".into()))
    } else {
        Reply::refused("the run is ending".into())
    };
    write.write_all(&send(&reply)).await
}

/// Publishes a run's events to subscribers, as JSON lines, and keeps what a subscriber who
/// joins late needs to draw the run so far: the start, and each change's latest phase,
/// worktree, tasks and iteration.
#[derive(Clone)]
pub struct Publisher {
    sender: broadcast::Sender<Arc<str>>,
    state: Arc<Mutex<Snapshot>>,
    /// Set when the run is over.
    closed: Arc<watch::Sender<bool>>,
    /// Subscribers still writing.
    active: Arc<AtomicUsize>,
}

/// One subscriber counted in [`Publisher::active`] while it lives.
struct Active(Arc<AtomicUsize>);

impl Active {
    fn enter(count: &Arc<AtomicUsize>) -> Active {
        count.fetch_add(1, Ordering::SeqCst);
        Active(Arc::clone(count))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Snapshot {
    started: Option<Arc<str>>,
    changes: BTreeMap<String, BTreeMap<&'static str, Arc<str>>>,
}

impl Default for Publisher {
    fn default() -> Publisher {
        Publisher {
            sender: broadcast::channel(4096).0,
            state: Arc::default(),
            closed: Arc::new(watch::channel(false).0),
            active: Arc::default(),
        }
    }
}

impl Publisher {
    /// Ends every subscriber's stream once it has written what it was sent, waiting for
    /// that (at most a few seconds: a subscriber that stopped reading is not waited for).
    pub async fn close(&self) {
        let _ = self.closed.send(true);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while self.active.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn publish(&self, event: &Event) {
        let line: Arc<str> = crate::run::event::json_line(event).into();
        if let Ok(mut state) = self.state.lock() {
            match event {
                Event::RunStarted { .. } => state.started = Some(Arc::clone(&line)),
                Event::Change { id, kind } => {
                    let slot = match kind {
                        ChangeEvent::Phase { .. } => Some("phase"),
                        ChangeEvent::WorktreeReady { .. } => Some("worktree"),
                        ChangeEvent::Tasks { .. } => Some("tasks"),
                        ChangeEvent::IterationStarted { .. } => Some("iteration"),
                        _ => None,
                    };
                    if let Some(slot) = slot {
                        state
                            .changes
                            .entry(id.clone())
                            .or_default()
                            .insert(slot, Arc::clone(&line));
                    }
                }
                _ => {}
            }
        }
        let _ = self.sender.send(line);
    }

    fn snapshot(&self) -> Vec<Arc<str>> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        let order = ["worktree", "iteration", "tasks", "phase"];
        state
            .started
            .iter()
            .cloned()
            .chain(state.changes.values().flat_map(|slots| {
                order
                    .iter()
                    .filter_map(|slot| slots.get(slot).cloned())
                    .collect::<Vec<_>>()
            }))
            .collect()
    }
}

/// The client side, for the commands of other terminals (blocking: they do nothing else).
pub mod client {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn connect(run_dir: &RunDir) -> Result<(UnixStream, PathBuf), Error> {
        let path = socket_path(run_dir);
        match UnixStream::connect(&path) {
            Ok(stream) => Ok((stream, path)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                Err(Error::NoRun)
            }
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    fn send(
        stream: &mut UnixStream,
        path: &Path,
        request: Request,
    ) -> Result<BufReader<UnixStream>, Error> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let mut line = serde_json::to_vec(&Envelope {
            v: VERSION,
            request,
        })
        .map_err(|e| Error::Protocol(e.to_string()))?;
        line.push(b'\n');
        stream.write_all(&line).map_err(io)?;
        Ok(BufReader::new(stream.try_clone().map_err(io)?))
    }

    fn read_reply(reader: &mut BufReader<UnixStream>, path: &Path) -> Result<Reply, Error> {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        if line.is_empty() {
            return Err(Error::NoRun);
        }
        serde_json::from_str(&line).map_err(|_| Error::Protocol(line.trim().to_owned()))
    }

    /// Sends one request to the running `start` and returns its reply.
    pub fn request(run_dir: &RunDir, request: Request) -> Result<Reply, Error> {
        let (mut stream, path) = connect(run_dir)?;
        let mut reader = send(&mut stream, &path, request)?;
        read_reply(&mut reader, &path)
    }

    /// Follows the running `start`: its events so far, then each as it happens, until the
    /// run ends. `on_event` gets every event parsed, with its line as it came.
    pub fn subscribe(run_dir: &RunDir, mut on_event: impl FnMut(Event, &str)) -> Result<(), Error> {
        let (mut stream, path) = connect(run_dir)?;
        let mut reader = send(&mut stream, &path, Request::Subscribe)?;
        let reply = read_reply(&mut reader, &path)?;
        if !reply.ok {
            return Err(Error::Protocol(reply.lines.join("; ")));
        }
        for line in reader.lines() {
            let Ok(line) = line else {
                break;
            };
            if let Ok(stamped) = serde_json::from_str::<Stamped>(&line) {
                on_event(stamped.event, &line);
            }
        }
        Ok(())
    }
}
