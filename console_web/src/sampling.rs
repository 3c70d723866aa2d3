//! Random sampling into the review queue, decided without I/O and reproducibly: a record is
//! sampled when a hash of its id and the rule's seed falls under the rule's share, so an
//! auditor can recompute any sample from the parameters recorded with its review.

use archive::{Kind, Record};
use policy::PolicyEngine;

/// One group's sampling rule (`[[console.sampling]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRule {
    /// A directory group, or `*` for everyone.
    pub group: String,
    /// Messages in a thousand sampled.
    pub per_mille: u32,
    /// The seed.
    pub seed: u64,
}

impl SampleRule {
    /// "sample: traders, 25 per mille, seed 7", as the queue and each review record say.
    pub fn describe(&self) -> String {
        format!(
            "sample: {}, {} per mille, seed {}",
            self.group, self.per_mille, self.seed
        )
    }
}

/// SplitMix64's finaliser: every bit of the input moves every bit of the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether record `id` falls in a `per_mille` sample with `seed`.
pub(crate) fn in_sample(id: u64, seed: u64, per_mille: u32) -> bool {
    mix(id ^ mix(seed.wrapping_add(0x9E37_79B9_7F4A_7C15))) % 1000 < u64::from(per_mille)
}

/// The rule that samples `record`, if one does: messages only, by the group of the record's
/// local user (the first rule for that group, else a `*` rule).
pub(crate) fn sampled_by<'a>(
    rules: &'a [SampleRule],
    engine: &PolicyEngine,
    record: &Record,
) -> Option<&'a SampleRule> {
    let e = &record.event;
    if !matches!(
        e.kind,
        Kind::Im | Kind::ChatMessage | Kind::FileOffer | Kind::DirectImOffer
    ) || rules.is_empty()
    {
        return None;
    }
    let local = if e.local_user.is_empty() {
        &e.sender
    } else {
        &e.local_user
    };
    let group = engine.identify(local, None).group;
    let rule = rules
        .iter()
        .find(|r| group.as_deref() == Some(r.group.as_str()))
        .or_else(|| rules.iter().find(|r| r.group == "*"))?;
    in_sample(record.id, rule.seed, rule.per_mille).then_some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_takes_its_share_reproducibly_and_depends_on_the_seed() {
        let taken = |seed| {
            (1..=100_000u64)
                .filter(|id| in_sample(*id, seed, 25))
                .count()
        };
        let share = taken(7);
        assert!(
            (2_200..2_800).contains(&share),
            "{share} of 100 000 at 25 per mille"
        );
        assert_eq!(taken(7), share, "the same seed samples the same records");
        let a: Vec<u64> = (1..=2000).filter(|id| in_sample(*id, 7, 25)).collect();
        let b: Vec<u64> = (1..=2000).filter(|id| in_sample(*id, 8, 25)).collect();
        assert_ne!(a, b);
        assert!((1..=1000).all(|id| in_sample(id, 1, 1000)));
    }
}
