//! `imtegrity sensor`: the sensor alone (`sensor_setup.rs` turns `[sensor]` into its
//! settings, for this command and for a gateway that runs the sensor itself).
//!
//! Which process writes: the archive has one owner (sled's lock). A gateway with
//! `sensor.interface` runs the sensor itself, into its own archive, and shows its counters
//! in `status`. `imtegrity sensor` is for a host where no gateway runs on that archive (a
//! sensor box on a mirror port): it owns the archive and answers the admin socket the same
//! way; started against an archive a gateway owns, it refuses and says to set
//! `sensor.interface` in the gateway's configuration instead.

use archive::{Archive, ArchiveError, ArchiveOptions};
use serde_json::json;

use crate::cli::SensorArgs;
use crate::exit::UsageError;
use crate::output::emit;
use crate::sensor_setup::{capture_options, log_allow, settings};

/// `imtegrity sensor`: the sensor alone, owning the archive, until SIGINT or SIGTERM.
pub(crate) async fn run(args: &SensorArgs, json: bool) -> crate::CmdResult {
    let config = crate::config_file::load(args.config.as_deref(), &args.overrides)?;
    let Some(settings) = settings(&config, args.interface.as_deref())? else {
        return Err(UsageError(
            "no interface to capture on: give --interface IF or set sensor.interface".into(),
        )
        .into());
    };
    log_allow(&settings);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let dir = config
        .archive
        .path
        .clone()
        .unwrap_or_else(crate::archive_access::default_dir);
    let archive = match Archive::open(
        &dir,
        ArchiveOptions {
            node: Some(settings.node.clone()),
            key: config.archive.signing_key.clone(),
            ..ArchiveOptions::default()
        },
    ) {
        Ok(a) => {
            crate::signing_key_notice::announce(&a);
            a
        }
        Err(ArchiveError::Locked { dir }) => {
            return Err(UsageError(format!(
                "the archive at {} is owned by another process (a running gateway?): set sensor.interface in that gateway's configuration so it runs the sensor itself, or give this sensor an archive of its own (archive.path)",
                dir.display()
            ))
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let interface = settings.interface.clone();
    let handle = sensor::start(settings, capture_options(&config), archive.clone())?;
    let admin = archive_servers::admin::bind(&dir)?;
    let stats = handle.stats();
    let (status_interface, started) = (interface.clone(), archive::now_ns());
    let owner: archive_servers::admin::OwnerStatus = std::sync::Arc::new(move || {
        json!({
            "role": "sensor",
            "pid": std::process::id(),
            "started_ns": started,
            "sensor": {"interface": status_interface, "running": true, "stats": stats.snapshot()},
        })
    });
    let admin_task = tokio::spawn(archive_servers::admin::serve_with_status(
        archive.clone(),
        admin,
        owner,
    ));
    emit(
        json,
        &format!(
            "imtegrity sensor capturing on {interface}\n  archive: {} (admin socket {})\nCtrl-C stops.",
            dir.display(),
            archive_servers::admin::socket_path(&dir).display()
        ),
        &json!({"event": "running", "interface": interface, "archive": dir}),
    );
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = poll.tick() => {
                if !handle.is_running() {
                    break; // the capture failed; stop() says why
                }
            }
        }
    }
    let stats = handle.stats();
    let result = tokio::task::spawn_blocking(move || handle.stop()).await?;
    admin_task.abort();
    let _ = std::fs::remove_file(archive_servers::admin::socket_path(&dir));
    archive.sync().await?;
    let s = stats.snapshot();
    emit(
        json,
        &format!(
            "stopped: {} packets, {} flows, {} bypasses, {} passive records, {} dropped by the kernel",
            s.packets, s.flows_seen, s.bypasses, s.passive_records, s.kernel_drops
        ),
        &json!({"event": "stopped", "stats": s}),
    );
    result.map_err(Into::into)
}
