//! The relay under test: the IMtegrity relay on a loopback port, with or without an archive
//! and a policy, and how the lab clients reach the lab server through it (a [`Route`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use archive::{Archive, ArchiveOptions};
use intercept::{CaptureMode, Relay, RelaySettings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::tempdir;

/// How the lab clients reach the lab server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// No relay: the baseline.
    Direct,
    /// The IMtegrity relay without an archive: the relay-only ceiling.
    NoArchive,
    /// The IMtegrity relay, relaxed capture.
    Relaxed,
    /// The IMtegrity relay, strict capture.
    Strict,
    /// Strict capture with a compliance policy of six rules none of the IMs match (every
    /// rule is evaluated for every IM).
    Policy,
}

impl Route {
    pub(crate) const ALL: [Self; 5] = [
        Self::Direct,
        Self::NoArchive,
        Self::Relaxed,
        Self::Strict,
        Self::Policy,
    ];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::NoArchive => "noarchive",
            Self::Relaxed => "relaxed",
            Self::Strict => "strict",
            Self::Policy => "policy",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct (no relay)",
            Self::NoArchive => "relay, no archive",
            Self::Relaxed => "relay, relaxed",
            Self::Strict => "relay, strict",
            Self::Policy => "relay, strict, policy (6 rules)",
        }
    }

    pub(crate) fn capture(self) -> Option<Option<CaptureMode>> {
        match self {
            Self::Direct => None,
            Self::NoArchive => Some(None),
            Self::Relaxed => Some(Some(CaptureMode::Relaxed)),
            Self::Strict | Self::Policy => Some(Some(CaptureMode::Strict)),
        }
    }

    /// The policy the relay applies on this route.
    pub(crate) fn policy(self) -> Option<Arc<policy::PolicyEngine>> {
        (self == Self::Policy).then(bench_policy)
    }
}

/// Six rules of every kind (names, kinds, keywords, patterns, mask, alert) that the bench
/// IMs never match, so each IM is checked against all of them and delivered as is.
pub(crate) fn bench_policy() -> Arc<policy::PolicyEngine> {
    const POLICY: &str = r#"
[policy]
default_profile = "p"
[policy.profiles.p]
[[policy.profiles.p.rules]]
name = "eap"
remote = ["eapcounsel", "re:^hr[0-9]+$"]
action = "no_log"
[[policy.profiles.p.rules]]
name = "files"
kinds = ["file", "direct_im"]
action = "block"
[[policy.profiles.p.rules]]
name = "insider"
keywords = ["insider", "guaranteed return", "off the record"]
action = "block"
[[policy.profiles.p.rules]]
name = "ssn"
patterns = ['re:\b\d{3}-\d{2}-\d{4}\b']
action = "mask"
[[policy.profiles.p.rules]]
name = "card"
patterns = ['re:\b(?:\d[ -]?){13,16}\b']
action = "mask"
[[policy.profiles.p.rules]]
name = "merger"
keywords = ["merger", "acquisition"]
action = "alert"
"#;
    let config = policy::load_config("bench.toml", POLICY, &[]).expect("bench policy");
    Arc::new(
        policy::PolicyEngine::compile(&config.policy, policy::Directory::default())
            .expect("bench policy compiles"),
    )
}

/// An IMtegrity relay on an ephemeral loopback port.
pub(crate) struct Gateway {
    pub(crate) addr: SocketAddr,
    pub(crate) relay: Arc<Relay>,
    pub(crate) archive: Option<Archive>,
    pub(crate) dir: Option<tempfile::TempDir>,
    pub(crate) stop: CancellationToken,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// `mode` `None`: no archive.
    pub(crate) async fn start(
        upstream_login: SocketAddr,
        mode: Option<CaptureMode>,
        base: Option<&Path>,
        policy: Option<Arc<policy::PolicyEngine>>,
    ) -> Self {
        let (archive, dir) = match mode {
            Some(_) => {
                let dir = tempdir(base);
                let archive = Archive::open(
                    dir.path(),
                    ArchiveOptions {
                        node: Some("bench".into()),
                        ..ArchiveOptions::default()
                    },
                )
                .unwrap();
                (Some(archive), Some(dir))
            }
            None => (None, None),
        };
        let config = RelaySettings {
            upstream_login: upstream_login.into(),
            mode: mode.unwrap_or(CaptureMode::Strict),
            node: "bench".into(),
            policy,
            // The benchmark's thousands of idle sessions come from one address and never
            // finish a login: the flood limits would (rightly) refuse them.
            limits: intercept::ConnectionLimits {
                per_address: u32::MAX,
                per_second: u32::MAX,
                burst: u32::MAX,
                max_open: usize::MAX,
            },
            signon_timeout: Duration::from_secs(3600),
            ..RelaySettings::default()
        };
        let relay = Arc::new(Relay::new(config, archive.clone()).expect("relay"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(intercept::serve(listener, relay.clone(), stop.clone()));
        Self {
            addr,
            relay,
            archive,
            dir,
            stop,
            task,
        }
    }

    /// Stops serving and drops every handle on the archive; returns its directory, whose
    /// store is released once the writer's closing checkpoint is done (see `wait_closed`).
    pub(crate) async fn shutdown(self) -> Option<tempfile::TempDir> {
        self.stop.cancel();
        let _ = self.task.await;
        drop(self.relay);
        drop(self.archive);
        self.dir
    }
}

/// Waits (bounded) until the writer of a dropped archive has released the store, so its
/// closing checkpoint does not overlap the next measurement; then deletes it.
pub(crate) fn wait_closed(dir: Option<tempfile::TempDir>) {
    let Some(dir) = dir else { return };
    for _ in 0..1000 {
        match Archive::open(dir.path(), ArchiveOptions::default()) {
            Ok(again) => {
                drop(again);
                break;
            }
            Err(archive::ArchiveError::Locked { .. }) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                eprintln!("reopening a bench archive: {e}");
                break;
            }
        }
    }
    // The reopened handle's writer thread finishes on its own; give it a moment.
    std::thread::sleep(Duration::from_millis(100));
}
