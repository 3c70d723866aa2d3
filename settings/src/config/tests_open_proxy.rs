//! `relay.max_cookie_routes` and `upstream.redirect_allow`: parsed from the file and from
//! `--set`, and refused with the key's name when unusable.

use super::Config;

fn load(text: &str, sets: &[&str]) -> Result<Config, String> {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    Config::load("test.toml", text, &sets).map_err(|e| e.to_string())
}

#[test]
fn redirect_allow_takes_networks_from_the_file_and_from_set() {
    let config = load("[upstream]\nredirect_allow = [\"10.20.0.0/16\"]\n", &[]).unwrap();
    assert_eq!(
        config.upstream.redirect_allow,
        vec!["10.20.0.0/16".parse::<ipnet::IpNet>().unwrap()]
    );
    let config = load(
        "",
        &[r#"upstream.redirect_allow=["127.0.0.7/32", "fd00::/8"]"#],
    )
    .unwrap();
    assert_eq!(
        config.upstream.redirect_allow,
        vec![
            "127.0.0.7/32".parse::<ipnet::IpNet>().unwrap(),
            "fd00::/8".parse::<ipnet::IpNet>().unwrap()
        ]
    );
}

#[test]
fn a_bad_redirect_network_is_refused_with_its_line() {
    let err = load(
        "[upstream]\nlogin = \"127.0.0.1:5190\"\nredirect_allow = [\"10.0.0.0/33\"]\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err,
        "test.toml:3:19: invalid IP address syntax (key `upstream.redirect_allow[0]`)"
    );
}

#[test]
fn max_cookie_routes_is_set_and_zero_is_refused() {
    let config = load("", &["relay.max_cookie_routes=10"]).unwrap();
    assert_eq!(config.relay.max_cookie_routes, 10);
    let err = load("[relay]\nmax_cookie_routes = 0\n", &[]).unwrap_err();
    assert!(err.contains("relay.max_cookie_routes"), "{err}");
    assert!(err.contains("default: 65536"), "{err}");
}
