//! What `verify` says about retention beside its verdict: each purge as what it was (how
//! many records, when, under which policy and minimum, by whom) and the minimum in force,
//! so an archive with holes never reads as a bare "intact".

use archive::RetentionState;

/// The verdict for an intact archive: "intact", or "intact; <the purge>" when there was
/// one, or "intact; N purges removed M records (listed below)".
pub(crate) fn intact(state: Option<&RetentionState>) -> String {
    let purges = state.map_or(&[][..], |s| s.purges.as_slice());
    match purges {
        [] => "intact".to_owned(),
        [one] => format!("intact; {}", one.describe()),
        many => format!(
            "intact; {} purges removed {} records (listed below)",
            many.len(),
            many.iter().map(|p| p.records).sum::<u64>()
        ),
    }
}

/// Lines to add under the report: the minimum in force and every purge.
pub(crate) fn lines(state: Option<&RetentionState>) -> String {
    let Some(state) = state else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(lock) = &state.lock {
        out.push_str(&format!(
            "\n  retention minimum {} ({}, record {})",
            lock.minimum.describe(),
            lock.provenance(),
            lock.record
        ));
    }
    for purge in &state.purges {
        out.push_str(&format!(
            "\n  purge (checkpoint {}): {}",
            purge.checkpoint,
            purge.describe()
        ));
    }
    out
}
