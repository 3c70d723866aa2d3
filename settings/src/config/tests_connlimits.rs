//! The connection limits and sign-on deadline of `[relay]`: defaults, `--set`, and what
//! check-config refuses, with the key and line named.

use super::*;

fn load(text: &str, args: &[&str]) -> Result<Config, ConfigError> {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    Config::load("imtegrity.toml", text, &args)
}

#[test]
fn every_limit_can_be_set_from_the_command_line() {
    let config = load(
        "[relay]\n",
        &[
            "relay.signon_timeout_secs=5",
            "relay.max_connections_per_address=4",
            "relay.new_connections_per_second=2",
            "relay.new_connections_burst=3",
            "relay.descriptor_reserve=100",
        ],
    )
    .unwrap();
    let r = &config.relay;
    assert_eq!(
        (
            r.signon_timeout_secs,
            r.max_connections_per_address,
            r.new_connections_per_second,
            r.new_connections_burst,
            r.descriptor_reserve
        ),
        (5, 4, 2, 3, 100)
    );
}

#[test]
fn a_zero_limit_is_refused_with_its_key_and_line() {
    for key in [
        "max_connections_per_address",
        "new_connections_per_second",
        "new_connections_burst",
    ] {
        let err = load(&format!("[relay]\n{key} = 0\n"), &[]).unwrap_err();
        assert_eq!(err.key(), Some(format!("relay.{key}").as_str()));
        assert_eq!(
            err.to_string().split(": 0 would").next(),
            Some(format!("imtegrity.toml:2:{}: invalid relay.{key}", key.len() + 4).as_str()),
            "{err}"
        );
    }
}

#[test]
fn the_signon_deadline_is_between_one_second_and_the_idle_timeout() {
    let err = load("[relay]\nsignon_timeout_secs = 0\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("relay.signon_timeout_secs"));
    let err = load("[relay]\nsignon_timeout_secs = 601\n", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "imtegrity.toml:2:23: invalid relay.signon_timeout_secs: 601 s: must be at least 1 s \
         and at most relay.idle_timeout_secs (600 s) (default: 30)"
    );
    load("[relay]\nsignon_timeout_secs = 600\n", &[]).unwrap();
    load("[relay]\nsignon_timeout_secs = 1\n", &[]).unwrap();
}

#[test]
fn a_descriptor_reserve_below_64_is_refused() {
    let err = load("", &["relay.descriptor_reserve=63"]).unwrap_err();
    assert_eq!(err.key(), Some("relay.descriptor_reserve"));
    assert!(
        err.to_string()
            .starts_with("--set relay.descriptor_reserve: invalid relay.descriptor_reserve: 63 is below the minimum of 64"),
        "{err}"
    );
    load("", &["relay.descriptor_reserve=64"]).unwrap();
}
