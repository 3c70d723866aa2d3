//! `archive.retention.min_days` and the per-protocol minimums.

use super::*;

const FILE: &str = "imtegrity.toml";

#[test]
fn minimums_are_unset_by_default_and_per_protocol_ones_win_over_min_days() {
    let config = Config::load(FILE, "", &[]).unwrap();
    assert!(
        config
            .archive
            .retention
            .per_protocol()
            .iter()
            .all(|s| s.min_days.is_none() && s.days.is_none())
    );
    let text = "[archive.retention]\nmin_days = 2190\nicq_min_days = 3650\ndays = 3650\n";
    let set = ["archive.retention.sametime_min_days=2555".to_owned()];
    let config = Config::load(FILE, text, &set).unwrap();
    let got: Vec<_> = config
        .archive
        .retention
        .per_protocol()
        .iter()
        .map(|s| (s.protocol, s.days, s.min_days))
        .collect();
    assert_eq!(
        got,
        vec![
            ("aim", Some(("days", 3650)), Some(("min_days", 2190))),
            ("icq", Some(("days", 3650)), Some(("icq_min_days", 3650))),
            (
                "sametime",
                Some(("days", 3650)),
                Some(("sametime_min_days", 2555))
            ),
        ]
    );
}

#[test]
fn days_below_the_minimum_are_refused_at_the_line_that_set_them() {
    let text = "[archive.retention]\nmin_days = 2190\naim_days = 90\n";
    let err = Config::load(FILE, text, &[]).unwrap_err();
    assert_eq!(err.key(), Some("archive.retention.aim_days"));
    assert_eq!(
        err.to_string(),
        "imtegrity.toml:3:12: invalid archive.retention.aim_days: 90 days for aim is below \
         archive.retention.min_days = 2190: records younger than the minimum are never purged"
    );
    let set = ["archive.retention.days=0".to_owned()];
    let err = Config::load(FILE, "[archive.retention]\nmin_days = 1\n", &set).unwrap_err();
    assert_eq!(err.key(), Some("archive.retention.days"));
    // Equal is fine, and a minimum without days (kept forever) too.
    let text = "[archive.retention]\nmin_days = 2190\ndays = 2190\n";
    assert!(Config::load(FILE, text, &[]).is_ok());
    assert!(Config::load(FILE, "[archive.retention]\nmin_days = 2190\n", &[]).is_ok());
}

#[test]
fn a_minimum_that_is_not_a_day_count_is_refused() {
    let err = Config::load(FILE, "[archive.retention]\nmin_days = -1\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("archive.retention.min_days"));
}
