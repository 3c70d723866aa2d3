//! `archive.admin_group`: who may use the admin socket besides the archive's owner and root.

use super::*;

const FILE: &str = "imtegrity.toml";

#[test]
fn admin_group_is_unset_by_default_and_takes_a_name_or_gid() {
    assert_eq!(
        Config::load(FILE, "", &[]).unwrap().archive.admin_group,
        None
    );
    let config = Config::load(FILE, "[archive]\nadmin_group = \"review\"\n", &[]).unwrap();
    assert_eq!(
        config.archive.admin_group,
        Some(GroupRef::Name("review".into()))
    );
    let set = ["archive.admin_group=4242".to_owned()];
    let config = Config::load(FILE, "", &set).unwrap();
    assert_eq!(config.archive.admin_group, Some(GroupRef::Gid(4242)));
}

#[test]
fn a_malformed_admin_group_is_refused_at_its_line() {
    let err = Config::load(FILE, "[archive]\nadmin_group = \"a b\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("archive.admin_group"));
    assert!(
        err.to_string()
            .starts_with("imtegrity.toml:2:15: invalid archive.admin_group: not a group name"),
        "{err}"
    );
    for bad in ["", "wheel:x", "tab\there"] {
        let set = [format!("archive.admin_group={bad}")];
        let err = Config::load(FILE, "", &set).unwrap_err();
        assert_eq!(err.key(), Some("archive.admin_group"), "{bad:?}");
    }
}
