//! `archive.signing_key`: the archive's signing key may live outside the archive directory.

use super::*;

const FILE: &str = "imtegrity.toml";

#[test]
fn signing_key_is_unset_by_default_and_takes_a_path_from_the_file_or_set() {
    assert_eq!(
        Config::load(FILE, "", &[]).unwrap().archive.signing_key,
        None
    );
    let config = Config::load(
        FILE,
        "[archive]\nsigning_key = \"/etc/imtegrity/archive.key\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        config.archive.signing_key,
        Some(PathBuf::from("/etc/imtegrity/archive.key"))
    );
    let set = ["archive.signing_key=/srv/keys/a.key".to_owned()];
    let config = Config::load(FILE, "", &set).unwrap();
    assert_eq!(
        config.archive.signing_key,
        Some(PathBuf::from("/srv/keys/a.key"))
    );
}

#[test]
fn a_signing_key_that_names_no_file_is_refused_at_its_line() {
    let err = Config::load(FILE, "[archive]\nsigning_key = \"/etc/keys/\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("archive.signing_key"));
    assert!(
        err.to_string()
            .starts_with("imtegrity.toml:2:15: invalid archive.signing_key: not a file name"),
        "{err}"
    );
    let err = Config::load(FILE, "", &["archive.signing_key=".to_owned()]).unwrap_err();
    assert_eq!(err.key(), Some("archive.signing_key"));
}
