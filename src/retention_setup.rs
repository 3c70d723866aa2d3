//! The retention the configuration asks for (`[archive.retention]`), as the archive's
//! policy and minimum, and the minimum locked into the archive before anything runs: the
//! gateway and `retention apply --config` both start here.

use archive::{
    Accessor, Archive, ArchiveError, Protocol, RetentionLock, RetentionMinimum, RetentionPolicy,
};
use settings::RetentionConfig;

/// The protocol a configured setting is for.
fn protocol(name: &str) -> Protocol {
    match name {
        "aim" => Protocol::Aim,
        "icq" => Protocol::Icq,
        _ => Protocol::Sametime,
    }
}

/// The days per protocol the configuration keeps records.
pub(crate) fn policy(config: &RetentionConfig) -> RetentionPolicy {
    let mut policy = RetentionPolicy {
        default_days: config.days,
        ..RetentionPolicy::default()
    };
    for setting in config.per_protocol() {
        if let Some((key, days)) = setting.days
            && key != "days"
        {
            policy.per_protocol.insert(protocol(setting.protocol), days);
        }
    }
    policy
}

/// The minimum per protocol the configuration asks for.
pub(crate) fn minimum(config: &RetentionConfig) -> RetentionMinimum {
    let mut minimum = RetentionMinimum::default();
    for setting in config.per_protocol() {
        if let Some((_, days)) = setting.min_days {
            minimum
                .per_protocol
                .insert(protocol(setting.protocol), days);
        }
    }
    minimum
}

/// Locks the configured minimum into the archive the gateway owns (raising it; a lower
/// one is refused, naming both values) and checks the configured days against the
/// minimum in force. Returns the policy to run on a schedule, if days are configured.
pub(crate) async fn lock_for_gateway(
    config: &RetentionConfig,
    archive: &Archive,
) -> Result<Option<RetentionPolicy>, ArchiveError> {
    let (wanted, policy, a) = (minimum(config), policy(config), archive.clone());
    let checked = policy.clone();
    let lock = tokio::task::spawn_blocking(move || {
        let change = a.raise_retention_minimum(&wanted, &Accessor::this_process())?;
        a.check_retention(&checked)?;
        Ok::<_, ArchiveError>(change.lock)
    })
    .await
    .map_err(|e| ArchiveError::Invalid {
        what: "retention lock",
        detail: e.to_string(),
    })??;
    log_lock(lock.as_ref());
    Ok(config.is_set().then_some(policy))
}

fn log_lock(lock: Option<&RetentionLock>) {
    if let Some(lock) = lock {
        tracing::info!(
            minimum = %lock.minimum.describe(),
            provenance = %lock.provenance(),
            "retention minimum in force"
        );
    }
}
