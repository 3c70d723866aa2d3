//! `relay.client_nat_networks`: parsed from the file and from `--set`, and refused with the
//! key's name when it would switch the cookie owner check off or is not a network.

use super::Config;

fn load(text: &str, sets: &[&str]) -> Result<Config, String> {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    Config::load("test.toml", text, &sets).map_err(|e| e.to_string())
}

#[test]
fn client_nat_networks_come_from_the_file_and_from_set() {
    let config = load(
        "[relay]\nclient_nat_networks = [\"198.51.100.0/28\"]\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        config.relay.client_nat_networks,
        vec!["198.51.100.0/28".parse::<ipnet::IpNet>().unwrap()]
    );
    let config = load(
        "",
        &[r#"relay.client_nat_networks=["203.0.113.0/29", "2001:db8::/64"]"#],
    )
    .unwrap();
    assert_eq!(
        config.relay.client_nat_networks,
        vec![
            "203.0.113.0/29".parse::<ipnet::IpNet>().unwrap(),
            "2001:db8::/64".parse().unwrap()
        ]
    );
}

#[test]
fn a_network_of_everything_or_a_bad_one_is_refused_by_name() {
    let err = load("", &[r#"relay.client_nat_networks=["0.0.0.0/0"]"#]).unwrap_err();
    assert!(err.contains("relay.client_nat_networks"), "{err}");
    assert!(err.contains("any address"), "{err}");
    let err = load("[relay]\nclient_nat_networks = [\"10.0.0.0/33\"]\n", &[]).unwrap_err();
    assert_eq!(
        err,
        "test.toml:2:24: invalid IP address syntax (key `relay.client_nat_networks[0]`)"
    );
}
