use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::*;

const FILE: &str = "imtegrity.toml";

fn sets(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(FILE, text, &[])
}

fn load(text: &str, args: &[&str]) -> Result<Config, ConfigError> {
    Config::load(FILE, text, &sets(args))
}

fn at(line: usize, column: usize) -> Origin {
    Origin::File {
        name: FILE.into(),
        at: Some(LineCol { line, column }),
    }
}

fn set(key: &str) -> Origin {
    Origin::Override { key: key.into() }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

const FULL: &str = r#"
[relay]
listen = ["127.0.0.1:15190", "[::1]:15190"]
advertise = "imgw.example.com:5190"
max_frame = 8192
idle_timeout_secs = 900
connect_timeout_secs = 5
cookie_ttl_secs = 120
signon_timeout_secs = 20
max_connections_per_address = 8
new_connections_per_second = 5
new_connections_burst = 16
descriptor_reserve = 512
max_cookie_routes = 1000

[upstream]
login = "[2001:db8::5]:5190"
egress = ["192.0.2.10", "2001:db8::10"]
resolver = ["192.0.2.53:53"]
proxy = "socks5://192.0.2.1:1080"
login_tls = "slogin.im.example.net:443"
tls_roots = ["/etc/imtegrity/revival-ca.pem"]
tls_insecure = true
api = "127.0.0.1:8443"
redirect_allow = ["10.20.0.0/16", "fd00::/8"]

[archive]
path = "/srv/imtegrity/archive"
mode = "relaxed"
node = "imgw-1"

[archive.retention]
days = 2555
aim_days = 365
icq_days = 730
sametime_days = 3650
interval_secs = 600

[dns]
listen = ["127.0.0.1:5353", "[::1]:5353"]
upstream = ["192.0.2.53", "tls://[2001:db8::53]:8853#dns.example.net"]
allow = ["10.0.0.0/8", "2001:db8::/32"]
ttl = 60
builtin_names = false
names = ["login.example.net", "*.im.example.net"]
gateway = ["192.0.2.5", "2001:db8::5"]
fail = "closed"
rate_limit = 50
query_log = "first"
health_interval_secs = 2

[[dns.views]]
name = "branch"
subnets = ["10.20.0.0/16", "2001:db8:20::/48"]
gateway = ["10.20.0.5"]
fail = "open"

[[dns.views]]
name = "gateways"
subnets = ["192.0.2.0/28"]
redirect = false

[tls]
ca_dir = "/srv/imtegrity/ca"
ca_key = "rsa-2048"
permitted = ["oscar.aol.com", "im.example.net"]
default_name = "login.im.example.net"
leaf_hours = 48
renew_before_hours = 12
cache_size = 64

[ingest]
listen = ["127.0.0.1:5192"]
token_file = "/etc/imtegrity/ingest.token"
tls = true
name = "ingest.im.example.net"
auth = "both"

[sensor]
interface = "eth1"
allow = ["192.0.2.10", "198.51.100.0/28"]
tls_names = ["slogin.oscar.aol.com", "*.im.example.net"]
passive = false
max_flows = 1000
flow_buffer = 4096
flow_idle_secs = 60
socket_buffer = 1048576
capture_threads = 2

[console]
listen = ["127.0.0.1:8443"]
tls = true
name = "console.example.com"
idle_timeout_mins = 30
time_zone = "Europe/London"
users = "/srv/imtegrity/console-users.toml"

[[console.sampling]]
group = "traders"
per_mille = 25
seed = 7

[policy]
directory = "/etc/imtegrity/directory.csv"
unknown_screen_names = "block"
default_profile = "standard"
disclaimer_opt_out = ["akumar"]

[[policy.groups]]
name = "traders"
employees = ["jsmith"]
screen_names = ["trader*", "re:^fx[0-9]+$"]
subnets = ["10.20.0.0/16", "10.30.1.7"]
profile = "trading"

[policy.profiles.standard]
disclaimer = "This conversation is recorded by Example Corp."
disclaimer_every_hours = 12
disclaimer_mandatory = false
notice = "[IMtegrity] Not delivered ({rule}): {reason}"
notice_interval_secs = 30
mask_char = "•"
alert_webhook = "https://hooks.example.com/im"

[[policy.profiles.standard.rules]]
name = "eap-line"
local = ["jsmith"]
remote = ["eapcounsel"]
kinds = ["im", "chat"]
direction = "outbound"
action = "no_log"

[[policy.profiles.standard.rules]]
name = "ssn"
keywords = ["insider", "guaranteed return"]
patterns = ['re:\b\d{3}-\d{2}-\d{4}\b']
action = "block"
reason = "numbers that look like an SSN may not be sent"

[policy.profiles.trading]
disclaimer = "Recorded under SEC Rule 17a-4."
disclaimer_every_hours = 8
alert_webhook = "https://hooks.example.com/trading"

[[policy.profiles.trading.rules]]
name = "no-files"
kinds = ["file", "direct_im"]
action = "block"
"#;

#[test]
fn a_file_with_every_key_parses() {
    let config = load(FULL, &[]).unwrap();
    assert_eq!(
        config,
        Config {
            relay: RelayConfig {
                listen: vec![addr("127.0.0.1:15190"), addr("[::1]:15190")],
                advertise: Some("imgw.example.com:5190".into()),
                max_frame: 8192,
                idle_timeout_secs: 900,
                connect_timeout_secs: 5,
                cookie_ttl_secs: 120,
                signon_timeout_secs: 20,
                max_connections_per_address: 8,
                new_connections_per_second: 5,
                new_connections_burst: 16,
                descriptor_reserve: 512,
                max_cookie_routes: 1000,
                client_nat_networks: Vec::new(),
            },
            dns: DnsConfig {
                listen: vec![addr("127.0.0.1:5353"), addr("[::1]:5353")],
                upstream: vec![
                    DnsUpstream {
                        address: addr("192.0.2.53:53"),
                        tls_name: None,
                    },
                    DnsUpstream {
                        address: addr("[2001:db8::53]:8853"),
                        tls_name: Some("dns.example.net".into()),
                    },
                ],
                allow: vec![
                    "10.0.0.0/8".parse().unwrap(),
                    "2001:db8::/32".parse().unwrap()
                ],
                ttl: 60,
                builtin_names: false,
                names: vec!["login.example.net".into(), "*.im.example.net".into()],
                gateway: vec![IpAddr::from([192, 0, 2, 5]), "2001:db8::5".parse().unwrap()],
                fail: FailPolicy::Closed,
                rate_limit: 50,
                rate_limit_bytes: 131_072,
                query_log: QueryLog::First,
                query_log_rate: 50,
                client_table_size: 65_536,
                upstream_idle_secs: 2,
                health_interval_secs: 2,
                views: vec![
                    DnsViewConfig {
                        name: "branch".into(),
                        subnets: vec![
                            "10.20.0.0/16".parse().unwrap(),
                            "2001:db8:20::/48".parse().unwrap()
                        ],
                        group: None,
                        gateway: vec![IpAddr::from([10, 20, 0, 5])],
                        fail: Some(FailPolicy::Open),
                        redirect: true,
                    },
                    DnsViewConfig {
                        name: "gateways".into(),
                        subnets: vec!["192.0.2.0/28".parse().unwrap()],
                        group: None,
                        gateway: vec![],
                        fail: None,
                        redirect: false,
                    },
                ],
            },
            upstream: UpstreamConfig {
                login: HostPort::parse("[2001:db8::5]:5190").unwrap(),
                egress: vec![
                    IpAddr::from([192, 0, 2, 10]),
                    "2001:db8::10".parse().unwrap()
                ],
                resolver: vec![addr("192.0.2.53:53")],
                proxy: Some("socks5://192.0.2.1:1080".into()),
                login_tls: HostPort::parse("slogin.im.example.net:443").unwrap(),
                tls_roots: vec![PathBuf::from("/etc/imtegrity/revival-ca.pem")],
                tls_insecure: true,
                api: Some(HostPort::parse("127.0.0.1:8443").unwrap()),
                redirect_allow: vec!["10.20.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()],
            },
            archive: ArchiveConfig {
                path: Some(PathBuf::from("/srv/imtegrity/archive")),
                mode: ArchiveMode::Relaxed,
                node: Some("imgw-1".into()),
                signing_key: None,
                admin_group: None,
                retention: RetentionConfig {
                    days: Some(2555),
                    aim_days: Some(365),
                    icq_days: Some(730),
                    sametime_days: Some(3650),
                    interval_secs: 600,
                    ..RetentionConfig::default()
                },
            },
            tls: TlsConfig {
                ca_dir: Some(PathBuf::from("/srv/imtegrity/ca")),
                ca_key: CaKey::Rsa2048,
                permitted: vec!["oscar.aol.com".into(), "im.example.net".into()],
                default_name: "login.im.example.net".into(),
                leaf_hours: 48,
                renew_before_hours: 12,
                cache_size: 64,
            },
            ingest: IngestConfig {
                listen: vec![addr("127.0.0.1:5192")],
                token_file: Some(PathBuf::from("/etc/imtegrity/ingest.token")),
                tls: true,
                name: Some("ingest.im.example.net".into()),
                auth: IngestAuthMode::Both,
                clients: Vec::new(),
            },
            sensor: SensorConfig {
                interface: Some("eth1".into()),
                allow: strings(&["192.0.2.10", "198.51.100.0/28"]),
                tls_names: strings(&["slogin.oscar.aol.com", "*.im.example.net"]),
                passive: false,
                max_flows: 1000,
                flow_buffer: 4096,
                flow_idle_secs: 60,
                socket_buffer: 1_048_576,
                capture_threads: 2,
            },
            policy: full_policy(),
            console: ConsoleConfig {
                listen: vec![addr("127.0.0.1:8443")],
                tls: true,
                name: Some("console.example.com".into()),
                idle_timeout_mins: 30,
                time_zone: "Europe/London".into(),
                users: Some(PathBuf::from("/srv/imtegrity/console-users.toml")),
                sampling: vec![SamplingConfig {
                    group: "traders".into(),
                    per_mille: 25,
                    seed: 7,
                }],
            },
        }
    );
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// FULL's `[policy]`.
fn full_policy() -> PolicyConfig {
    let standard = ProfileConfig {
        disclaimer: Some("This conversation is recorded by Example Corp.".into()),
        disclaimer_every_hours: 12,
        disclaimer_mandatory: false,
        notice: "[IMtegrity] Not delivered ({rule}): {reason}".into(),
        notice_interval_secs: 30,
        mask_char: "•".into(),
        alert_webhook: Some("https://hooks.example.com/im".into()),
        rules: vec![
            RuleConfig {
                name: "eap-line".into(),
                local: Some(strings(&["jsmith"])),
                remote: Some(strings(&["eapcounsel"])),
                kinds: Some(vec![MessageKind::Im, MessageKind::Chat]),
                direction: Some(record::Direction::Outbound),
                keywords: vec![],
                patterns: vec![],
                action: Action::NoLog,
                reason: None,
            },
            RuleConfig {
                name: "ssn".into(),
                local: None,
                remote: None,
                kinds: None,
                direction: None,
                keywords: strings(&["insider", "guaranteed return"]),
                patterns: strings(&[r"re:\b\d{3}-\d{2}-\d{4}\b"]),
                action: Action::Block,
                reason: Some("numbers that look like an SSN may not be sent".into()),
            },
        ],
    };
    let trading = ProfileConfig {
        disclaimer: Some("Recorded under SEC Rule 17a-4.".into()),
        disclaimer_every_hours: 8,
        alert_webhook: Some("https://hooks.example.com/trading".into()),
        rules: vec![RuleConfig {
            name: "no-files".into(),
            local: None,
            remote: None,
            kinds: Some(vec![MessageKind::File, MessageKind::DirectIm]),
            direction: None,
            keywords: vec![],
            patterns: vec![],
            action: Action::Block,
            reason: None,
        }],
        ..ProfileConfig::default()
    };
    PolicyConfig {
        directory: Some(PathBuf::from("/etc/imtegrity/directory.csv")),
        unknown_screen_names: UnknownScreenNames::Block,
        default_profile: "standard".into(),
        groups: vec![GroupConfig {
            name: "traders".into(),
            employees: strings(&["jsmith"]),
            screen_names: strings(&["trader*", "re:^fx[0-9]+$"]),
            subnets: strings(&["10.20.0.0/16", "10.30.1.7"]),
            profile: "trading".into(),
        }],
        profiles: [
            ("standard".to_owned(), standard),
            ("trading".to_owned(), trading),
        ]
        .into_iter()
        .collect(),
        disclaimer_opt_out: strings(&["akumar"]),
    }
}

#[test]
fn an_empty_file_gives_every_default() {
    let config = load("", &[]).unwrap();
    let RelayConfig {
        listen,
        advertise,
        max_frame,
        idle_timeout_secs,
        connect_timeout_secs,
        cookie_ttl_secs,
        signon_timeout_secs,
        max_connections_per_address,
        new_connections_per_second,
        new_connections_burst,
        descriptor_reserve,
        max_cookie_routes,
        client_nat_networks,
    } = &config.relay;
    assert_eq!(
        listen,
        &[
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5190)),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 443))
        ]
    );
    assert_eq!(advertise, &None);
    assert_eq!(*max_frame, 65_535);
    assert_eq!(*idle_timeout_secs, 600);
    assert_eq!(*connect_timeout_secs, 10);
    assert_eq!(*cookie_ttl_secs, 300);
    assert_eq!(
        (
            *signon_timeout_secs,
            *max_connections_per_address,
            *new_connections_per_second,
            *new_connections_burst,
            *descriptor_reserve
        ),
        (30, 32, 10, 64, 256)
    );
    assert_eq!(*max_cookie_routes, 65_536);
    assert!(client_nat_networks.is_empty());
    let UpstreamConfig {
        login,
        egress,
        resolver,
        proxy,
        login_tls,
        tls_roots,
        tls_insecure,
        api,
        redirect_allow,
    } = &config.upstream;
    assert_eq!(api, &None);
    assert!(redirect_allow.is_empty());
    assert_eq!(login.to_string(), "login.oscar.aol.com:5190");
    assert_eq!(login_tls.to_string(), "slogin.oscar.aol.com:5190");
    assert!(tls_roots.is_empty());
    assert!(!tls_insecure);
    assert!(egress.is_empty());
    assert!(resolver.is_empty());
    assert_eq!(proxy, &None);
    let ArchiveConfig {
        path,
        mode,
        node,
        signing_key,
        admin_group,
        retention,
    } = &config.archive;
    assert_eq!(signing_key, &None);
    assert_eq!(admin_group, &None);
    assert!(!retention.is_set());
    assert_eq!(retention.interval_secs, 3600);
    assert_eq!(path, &None);
    assert_eq!(*mode, ArchiveMode::Strict);
    assert_eq!(node, &None);
    let DnsConfig {
        listen,
        upstream,
        allow,
        ttl,
        builtin_names,
        names,
        gateway,
        fail,
        rate_limit,
        rate_limit_bytes,
        query_log,
        query_log_rate,
        client_table_size,
        upstream_idle_secs,
        health_interval_secs,
        views,
    } = &config.dns;
    assert_eq!(listen, &[addr("0.0.0.0:53")]);
    assert!(upstream.is_empty());
    let allow: Vec<String> = allow.iter().map(ToString::to_string).collect();
    assert_eq!(
        allow,
        [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "::1/128",
            "fc00::/7"
        ]
    );
    assert_eq!(*ttl, 30);
    assert!(*builtin_names);
    assert!(names.is_empty());
    assert!(gateway.is_empty());
    assert_eq!(*fail, FailPolicy::Closed);
    assert_eq!(*rate_limit, 1000);
    assert_eq!(*query_log, QueryLog::Every);
    assert_eq!(*rate_limit_bytes, 131_072);
    assert_eq!(*query_log_rate, 50);
    assert_eq!(*client_table_size, 65_536);
    assert_eq!(*upstream_idle_secs, 2);
    assert_eq!(*health_interval_secs, 5);
    assert!(views.is_empty());
    let TlsConfig {
        ca_dir,
        ca_key,
        permitted,
        default_name,
        leaf_hours,
        renew_before_hours,
        cache_size,
    } = &config.tls;
    assert_eq!(ca_dir, &None);
    assert_eq!(*ca_key, CaKey::EcdsaP256);
    assert_eq!(
        permitted,
        &[
            "oscar.aol.com",
            "messaging.aol.com",
            "api.screenname.aol.com",
            "kdc.uas.aol.com",
            "icq.com",
            "icq.net",
            "mirabilis.com"
        ]
    );
    assert_eq!(default_name, "slogin.oscar.aol.com");
    assert_eq!(*leaf_hours, 168);
    assert_eq!(*renew_before_hours, 24);
    assert_eq!(*cache_size, 1024);
    let PolicyConfig {
        directory,
        unknown_screen_names,
        default_profile,
        groups,
        profiles,
        disclaimer_opt_out,
    } = &config.policy;
    assert!(disclaimer_opt_out.is_empty());
    assert_eq!(directory, &None);
    assert_eq!(*unknown_screen_names, UnknownScreenNames::Allow);
    assert_eq!(default_profile, "default");
    assert!(groups.is_empty());
    assert!(profiles.is_empty());
    let ProfileConfig {
        disclaimer,
        disclaimer_every_hours,
        disclaimer_mandatory,
        notice,
        notice_interval_secs,
        mask_char,
        alert_webhook,
        rules,
    } = ProfileConfig::default();
    assert_eq!(disclaimer, None);
    assert_eq!(disclaimer_every_hours, 24);
    assert!(disclaimer_mandatory);
    assert_eq!(
        notice,
        "[IMtegrity] Your message was not delivered: {reason}"
    );
    assert_eq!(notice_interval_secs, 60);
    assert_eq!(mask_char, "*");
    assert_eq!(alert_webhook, None);
    assert!(rules.is_empty());
    assert_eq!(config, Config::default());
}

#[test]
fn empty_sections_and_partial_sections_take_defaults() {
    let config = parse("[relay]\nmax_frame = 100\n[upstream]\n[archive]\n").unwrap();
    assert_eq!(config.relay.max_frame, 100);
    assert_eq!(
        config.relay.idle_timeout_secs,
        RelayConfig::default().idle_timeout_secs
    );
    assert_eq!(config.upstream, UpstreamConfig::default());
    assert_eq!(config.archive, ArchiveConfig::default());
}

#[test]
fn the_defaults_validate() {
    Config::default().validate().unwrap();
}

#[test]
fn the_example_file_is_the_defaults_but_for_the_archive_path() {
    let text = include_str!("../../../imtegrity.example.toml");
    let config = Config::load("imtegrity.example.toml", text, &[]).unwrap();
    // The one deliberate non-default: a deployment names its archive directory.
    assert_eq!(
        config.archive.path,
        Some(PathBuf::from("/var/lib/imtegrity/archive"))
    );
    let expected = Config {
        archive: ArchiveConfig {
            path: config.archive.path.clone(),
            ..ArchiveConfig::default()
        },
        ..Config::default()
    };
    assert_eq!(config, expected);
}

/// A commented-out `#key = value` line of the example (no space after the `#`: prose has one).
fn is_commented_out_setting(line: &str) -> bool {
    line.strip_prefix('#')
        .is_some_and(|s| s.contains(" = ") && !s.starts_with(' '))
}

/// The example's commented-out settings, each as the lines to uncomment together: a single
/// `#key = value` line, or a whole block from a `#[table]` or `#[[table]]` line to the next
/// line that is not a comment (its keys alone would land in the table above it, and its
/// tables may refer to each other); a block's prose lines stay commented.
fn commented_out_settings(lines: &[&str]) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with("#[") {
            let end = (i + 1..lines.len())
                .find(|&j| !lines[j].starts_with('#'))
                .unwrap_or(lines.len());
            groups.push(
                (i..end)
                    .filter(|&j| lines[j].starts_with("#[") || is_commented_out_setting(lines[j]))
                    .collect(),
            );
            i = end;
        } else {
            if is_commented_out_setting(lines[i]) {
                groups.push(vec![i]);
            }
            i += 1;
        }
    }
    groups
}

/// Every key of `config.to_toml()` as a dotted path (array-of-table entries under their
/// array's path, no index) with its value; tables are not leaves, arrays are.
fn leaves(config: &Config) -> BTreeMap<String, toml::Value> {
    fn walk(table: &toml::Table, prefix: &str, out: &mut BTreeMap<String, toml::Value>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => walk(inner, &path, out),
                toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                    for item in items.iter().filter_map(toml::Value::as_table) {
                        walk(item, &path, out);
                    }
                    out.insert(path, value.clone());
                }
                _ => {
                    out.insert(path, value.clone());
                }
            }
        }
    }
    let table: toml::Table = toml::from_str(&config.to_toml()).unwrap();
    let mut out = BTreeMap::new();
    walk(&table, "", &mut out);
    out
}

#[test]
fn every_commented_out_example_setting_is_valid_and_shows_the_default() {
    // Uncommenting any `#key = value` line (or `#[[table]]` block) of the example must
    // still give a valid file, so the example never shows a key or value the gateway would
    // reject. And it shows the default, unless the default is unset or empty and the line
    // is an example of what to put there.
    let text = include_str!("../../../imtegrity.example.toml");
    let lines: Vec<&str> = text.lines().collect();
    let base = leaves(&Config::load("imtegrity.example.toml", text, &[]).unwrap());
    let groups = commented_out_settings(&lines);
    for group in &groups {
        let first = group[0] + 1;
        let mut edited = lines.clone();
        for &i in group {
            edited[i] = &lines[i][1..];
        }
        let config = Config::load("imtegrity.example.toml", &edited.join("\n"), &[])
            .unwrap_or_else(|e| panic!("uncommenting line {first}: {e}"));
        for (path, value) in leaves(&config) {
            let before = base.get(&path);
            let unset_or_empty = before.is_none_or(|v| v.as_array().is_some_and(Vec::is_empty));
            assert!(
                before == Some(&value) || unset_or_empty,
                "line {first} sets {path} = {value}, but the default is {before:?}"
            );
        }
    }
    for table in ["#[[dns.views]]", "#[policy.profiles."] {
        assert!(
            groups
                .iter()
                .any(|g| g.len() > 1 && lines[g[0]].starts_with(table)),
            "the {table} block is found and checked as one"
        );
    }
}

#[test]
fn the_example_shows_every_key() {
    // FULL sets every key; each must appear in the example, commented out or (archive.path)
    // set, so a new key cannot go undocumented. A profile's keys are the same whatever the
    // profile's name, so each needs showing in one profile only.
    fn any_profile(path: &str) -> String {
        match path.strip_prefix("policy.profiles.") {
            Some(rest) => match rest.split_once('.') {
                Some((_, key)) => format!("policy.profiles.*.{key}"),
                None => "policy.profiles.*".to_owned(),
            },
            None => path.to_owned(),
        }
    }
    let text = include_str!("../../../imtegrity.example.toml");
    let mut shown = BTreeSet::new();
    let mut section = "";
    for line in text.lines() {
        let line = line.strip_prefix('#').unwrap_or(line);
        let header = line
            .strip_prefix("[[")
            .and_then(|l| l.strip_suffix("]]"))
            .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')));
        if let Some(header) = header {
            section = header;
            shown.insert(any_profile(header)); // `dns.views` is a key of `[dns]`
        } else if let Some((key, _)) = line.split_once(" = ")
            && !key.contains(' ')
        {
            shown.insert(any_profile(&format!("{section}.{key}")));
        }
    }
    let missing: Vec<String> = leaves(&load(FULL, &[]).unwrap())
        .into_keys()
        .filter(|k| !shown.contains(&any_profile(k)))
        .collect();
    assert!(missing.is_empty(), "not in the example: {missing:?}");
}

#[test]
fn unknown_key_in_the_file_names_line_column_and_key() {
    let text =
        "[relay]\nlisten = [\"127.0.0.1:15190\"]\n\n# typo below\nlissten = [\"0.0.0.0:5190\"]\n";
    let err = parse(text).unwrap_err();
    assert_eq!(err.origin(), Some(&at(5, 1)));
    assert_eq!(err.key(), Some("relay.lissten"));
    assert_eq!(
        err.to_string(),
        "imtegrity.toml:5:1: unknown field `lissten`, expected one of `listen`, `advertise`, \
         `max_frame`, `idle_timeout_secs`, `connect_timeout_secs`, `cookie_ttl_secs`, \
         `signon_timeout_secs`, `max_connections_per_address`, `new_connections_per_second`, \
         `new_connections_burst`, `descriptor_reserve`, `max_cookie_routes`, \
         `client_nat_networks` (key `relay.lissten`)"
    );
}

#[test]
fn unknown_section_in_the_file_is_rejected() {
    let err = parse("[relay]\n[smtp]\nlisten = 1\n").unwrap_err();
    assert_eq!(err.origin(), Some(&at(2, 2)));
    assert_eq!(err.key(), Some("smtp"));
    assert!(err.to_string().contains("unknown field `smtp`"), "{err}");
}

#[test]
fn unknown_key_in_a_dotted_key_is_rejected() {
    let err = parse("upstream.loggin = \"a:1\"\n").unwrap_err();
    assert_eq!(err.origin(), Some(&at(1, 10)));
    assert_eq!(err.key(), Some("upstream.loggin"));
}

#[test]
fn unknown_key_via_set_names_the_argument() {
    let err = load("[relay]\n", &["relay.lissten=127.0.0.1:1"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("relay.lissten")));
    assert_eq!(err.key(), Some("relay.lissten"));
    assert!(
        err.to_string()
            .starts_with("--set relay.lissten: unknown field `lissten`, expected one of `listen`"),
        "{err}"
    );
    // The same without a [relay] section in the file, and for a whole unknown section.
    let err = load("", &["relay.lissten=1"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("relay.lissten")));
    let err = load("", &["archive.mode=strict", "smtp.listen=1"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("smtp.listen")));
    assert_eq!(err.key(), Some("smtp"));
}

#[test]
fn unknown_key_via_set_replacing_a_file_key_still_names_the_argument() {
    // The file's own typo is reported at its line...
    let err = load("[relay]\nlissten = 1\n", &[]).unwrap_err();
    assert_eq!(err.origin(), Some(&at(2, 1)));
    // ...and the same key set again by --set is the argument's fault, not the file's line.
    let err = load("[relay]\nlissten = 1\n", &["relay.lissten=2"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("relay.lissten")));
}

#[test]
fn type_error_in_the_file_names_the_line() {
    let err = parse("[relay]\n\nidle_timeout_secs = \"ten minutes\"\n").unwrap_err();
    assert_eq!(err.origin(), Some(&at(3, 21)));
    assert_eq!(err.key(), Some("relay.idle_timeout_secs"));
    assert_eq!(
        err.to_string(),
        "imtegrity.toml:3:21: invalid type: string \"ten minutes\", expected u64 \
         (key `relay.idle_timeout_secs`)"
    );
}

#[test]
fn type_error_in_an_array_element_names_the_element() {
    let err = parse("[relay]\nlisten = [\"127.0.0.1:1\", \"localhost\"]\n").unwrap_err();
    assert_eq!(err.origin(), Some(&at(2, 26)));
    assert_eq!(err.key(), Some("relay.listen[1]"));
}

#[test]
fn malformed_values_name_their_key() {
    for (text, key, line, column, message) in [
        (
            "[upstream]\nlogin = \"login.oscar.aol.com\"\n",
            "upstream.login",
            2,
            9,
            "has no port",
        ),
        (
            "[archive]\nmode = \"fast\"\n",
            "archive.mode",
            2,
            8,
            "unknown variant `fast`, expected `strict` or `relaxed`",
        ),
        (
            "[upstream]\negress = [\"10.0.0.256\"]\n",
            "upstream.egress[0]",
            2,
            11,
            "invalid IP address",
        ),
        (
            "[relay]\nmax_frame = -1\n",
            "relay.max_frame",
            2,
            13,
            "expected usize",
        ),
        ("relay = 5\n", "relay", 1, 9, "expected struct RelayConfig"),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.origin(), Some(&at(line, column)), "{text}: {err}");
        assert_eq!(err.key(), Some(key), "{text}");
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
}

#[test]
fn type_error_in_an_override_names_the_argument() {
    let err = load("[relay]\nmax_frame = 100\n", &["relay.max_frame=lots"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("relay.max_frame")));
    assert_eq!(
        err.to_string(),
        "--set relay.max_frame: invalid type: string \"lots\", expected usize \
         (key `relay.max_frame`)"
    );
    let err = load("", &["relay.listen=[\"127.0.0.1:1\", 7]"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("relay.listen")));
    assert_eq!(err.key(), Some("relay.listen[1]"));
}

#[test]
fn syntax_error_names_line_and_column() {
    let err = parse("[relay]\nmax_frame = 1\n[archive\n").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert_eq!(err.origin(), Some(&at(3, 9)));
    assert!(err.to_string().starts_with("imtegrity.toml:3:9: "), "{err}");
    let err = parse("[relay]\nmax_frame = 1\nmax_frame = 2\n").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert_eq!(
        err.origin().map(ToString::to_string).as_deref(),
        Some("imtegrity.toml:3:1")
    );
}

#[test]
fn columns_count_characters_and_crlf_lines_work() {
    let err = parse("# é\r\n[relay]\r\nmax_frame = \"é\"\r\n").unwrap_err();
    assert_eq!(err.origin(), Some(&at(3, 13)));
    assert_eq!(LineCol::of("é = x", 4), LineCol { line: 1, column: 4 });
    assert_eq!(LineCol::of("ab", 99), LineCol { line: 1, column: 3 });
}

#[test]
fn overrides_win_over_the_file() {
    let text = "[relay]\nlisten = [\"0.0.0.0:5190\"]\nidle_timeout_secs = 900\n\
                [archive]\nmode = \"strict\"\n";
    let config = load(
        text,
        &[
            "relay.listen=[\"127.0.0.1:15190\"]",
            "relay.idle_timeout_secs=1200",
            "archive.mode=relaxed",
        ],
    )
    .unwrap();
    assert_eq!(config.relay.listen, [addr("127.0.0.1:15190")]);
    assert_eq!(config.relay.idle_timeout_secs, 1200);
    assert_eq!(config.archive.mode, ArchiveMode::Relaxed);
    // What the overrides do not touch keeps the file's value or the default.
    assert_eq!(config.relay.max_frame, 65_535);
}

#[test]
fn later_overrides_win_over_earlier_ones() {
    let config = load(
        "",
        &[
            "archive.mode=relaxed",
            "archive.mode=strict",
            "relay.max_frame=1",
        ],
    )
    .unwrap();
    assert_eq!(config.archive.mode, ArchiveMode::Strict);
    assert_eq!(config.relay.max_frame, 1);
}

#[test]
fn unquoted_override_values_are_strings() {
    let config = load(
        "",
        &[
            "upstream.login=127.0.0.1:5190",
            "archive.mode=relaxed",
            "archive.path=/tmp/imtegrity archive",
            "archive.node=gw-1",
            "relay.advertise=gw.example:5190",
        ],
    )
    .unwrap();
    assert_eq!(config.upstream.login.to_string(), "127.0.0.1:5190");
    assert_eq!(config.archive.mode, ArchiveMode::Relaxed);
    assert_eq!(
        config.archive.path,
        Some(PathBuf::from("/tmp/imtegrity archive"))
    );
    assert_eq!(config.archive.node.as_deref(), Some("gw-1"));
    assert_eq!(config.relay.advertise.as_deref(), Some("gw.example:5190"));
    // Quoted, the same value is a TOML string; white space around `=` is ignored.
    let config = load("", &["upstream.login = \"[::1]:5190\""]).unwrap();
    assert_eq!(config.upstream.login.to_string(), "[::1]:5190");
}

#[test]
fn override_values_that_are_toml_keep_their_type() {
    let config = load(
        "",
        &[
            "relay.cookie_ttl_secs=60",
            "upstream.egress=[\"192.0.2.1\"]",
            "upstream.resolver=[]",
        ],
    )
    .unwrap();
    assert_eq!(config.relay.cookie_ttl_secs, 60);
    assert_eq!(config.upstream.egress, [IpAddr::from([192, 0, 2, 1])]);
    // A number where a string is wanted must be quoted.
    let err = load("", &["archive.node=42"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("archive.node")));
    load("", &["archive.node=\"42\""]).unwrap();
}

#[test]
fn a_whole_section_can_be_set_as_an_inline_table() {
    let config = load("", &["archive={ mode = \"relaxed\", node = \"n\" }"]).unwrap();
    assert_eq!(config.archive.mode, ArchiveMode::Relaxed);
    let err = load("", &["archive={ mood = \"relaxed\" }"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("archive")));
    assert_eq!(err.key(), Some("archive.mood"));
}

#[test]
fn malformed_override_arguments_are_rejected() {
    for arg in [
        "relay",
        "=1",
        "relay..listen=1",
        "relay.listen.=1",
        "relay listen=1",
        "\"a\".b=1",
    ] {
        let err = load("", &[arg]).unwrap_err();
        // Quoted without its value, which may be a secret.
        let shown = arg
            .split_once('=')
            .map_or(arg.to_owned(), |(key, _)| format!("{}=…", key.trim()));
        assert!(
            matches!(&err, ConfigError::BadOverride { arg: a, .. } if *a == shown),
            "{arg}: {err:?}"
        );
        assert!(
            err.to_string().starts_with(&format!("--set {shown}: ")),
            "{err}"
        );
    }
}

#[test]
fn override_through_a_value_that_is_not_a_table_is_rejected() {
    let err = load("relay = 5\n", &["relay.max_frame=1"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--set relay.max_frame=…: `relay` is an integer in imtegrity.toml, not a table"
    );
}

#[test]
fn idle_timeout_below_180_seconds_is_rejected() {
    let err = load("[relay]\nidle_timeout_secs = 179\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
    assert_eq!(err.key(), Some("relay.idle_timeout_secs"));
    assert_eq!(err.origin(), Some(&at(2, 21)));
    assert!(
        err.to_string().starts_with(
            "imtegrity.toml:2:21: invalid relay.idle_timeout_secs: 179 s is below the minimum of 180 s"
        ),
        "{err}"
    );
    load("[relay]\nidle_timeout_secs = 180\n", &[]).unwrap();
    // Set by --set, the error names the argument.
    let err = load(
        "[relay]\nidle_timeout_secs = 900\n",
        &["relay.idle_timeout_secs=60"],
    )
    .unwrap_err();
    assert_eq!(err.origin(), Some(&set("relay.idle_timeout_secs")));
}

#[test]
fn validate_alone_names_the_key_without_an_origin() {
    let mut config = Config::default();
    config.relay.idle_timeout_secs = 60;
    let err = config.validate().unwrap_err();
    assert_eq!(err.origin(), None);
    assert!(
        err.to_string()
            .starts_with("invalid relay.idle_timeout_secs: 60 s is below"),
        "{err}"
    );
    // Parse does not validate; load does.
    parse("[relay]\nidle_timeout_secs = 60\n").unwrap();
}

#[test]
fn an_empty_listen_list_is_rejected() {
    let err = load("[relay]\nlisten = []\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("relay.listen"));
    assert_eq!(err.origin(), Some(&at(2, 10)));
    let err = load("", &["relay.listen=[]"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("relay.listen")));
}

#[test]
fn port_zero_in_the_upstream_login_is_rejected() {
    let err = load("[upstream]\nlogin = \"login.oscar.aol.com:0\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("upstream.login"));
    assert_eq!(err.origin(), Some(&at(2, 9)));
    assert_eq!(
        err.to_string(),
        "imtegrity.toml:2:9: invalid upstream.login: login.oscar.aol.com:0: port 0 cannot be \
         connected to (the OSCAR port is 5190)"
    );
}

#[test]
fn duplicate_listen_addresses_are_rejected() {
    let text =
        "[relay]\nlisten = [\n  \"127.0.0.1:5190\",\n  \"[::1]:5190\",\n  \"127.0.0.1:5190\",\n]\n";
    let err = load(text, &[]).unwrap_err();
    assert_eq!(err.key(), Some("relay.listen[2]"));
    assert_eq!(err.origin(), Some(&at(5, 3)));
    assert_eq!(
        err.to_string(),
        "imtegrity.toml:5:3: invalid relay.listen[2]: 127.0.0.1:5190 is listed twice"
    );
}

#[test]
fn a_wildcard_listener_overlapping_a_specific_one_is_rejected() {
    let err = load("", &["relay.listen=[\"127.0.0.1:5190\", \"0.0.0.0:5190\"]"]).unwrap_err();
    assert_eq!(err.key(), Some("relay.listen[1]"));
    assert_eq!(err.origin(), Some(&set("relay.listen")));
    assert!(err.to_string().contains("overlaps 127.0.0.1:5190"), "{err}");
    // Different ports, different families, and OS-chosen ports do not clash.
    load(
        "",
        &[
            "relay.listen=[\"0.0.0.0:5190\", \"0.0.0.0:5191\", \"[::]:5190\", \"127.0.0.1:0\", \"127.0.0.1:0\"]",
            // An IPv6 listener needs a name to advertise (redirects cannot carry IPv6).
            "relay.advertise=gw.example",
        ],
    )
    .unwrap();
}

#[test]
fn other_unusable_values_are_rejected() {
    for (arg, key) in [
        ("relay.max_frame=0", "relay.max_frame"),
        ("relay.connect_timeout_secs=0", "relay.connect_timeout_secs"),
        ("relay.cookie_ttl_secs=0", "relay.cookie_ttl_secs"),
        ("relay.advertise=bad host", "relay.advertise"),
        ("upstream.proxy=ftp://p:21", "upstream.proxy"),
        (
            "archive.retention.interval_secs=0",
            "archive.retention.interval_secs",
        ),
        (r#"relay.listen=["[::1]:5190"]"#, "relay.listen[0]"),
        ("relay.advertise=[::1]:5190", "relay.advertise"),
        ("relay.advertise=gw.example.com:0", "relay.advertise"),
        (
            "upstream.resolver=[\"192.0.2.53:0\"]",
            "upstream.resolver[0]",
        ),
        ("archive.path=\"\"", "archive.path"),
        ("archive.node=\" \"", "archive.node"),
        ("archive.node=", "archive.node"),
    ] {
        let err = load("", &[arg]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{arg}: {err:?}");
        assert_eq!(err.key(), Some(key), "{arg}");
        let key_given = arg.split('=').next().unwrap();
        assert_eq!(err.origin(), Some(&set(key_given)), "{arg}");
    }
    for ok in [
        "relay.advertise=gw.example.com",
        "relay.advertise=192.0.2.1:443",
    ] {
        load("", &[ok]).unwrap();
    }
}

#[test]
fn to_toml_round_trips() {
    let text = Config::default().to_toml();
    assert_eq!(load(&text, &[]).unwrap(), Config::default(), "{text}");
    // Secrets (FULL's webhook paths) print redacted, so a printed config reads back as
    // itself from then on, not as the original.
    let text = load(FULL, &[]).unwrap().to_toml();
    assert_eq!(load(&text, &[]).unwrap().to_toml(), text);
    assert!(
        text.contains("alert_webhook = \"https://hooks.example.com/…\""),
        "{text}"
    );
    let text = Config::default().to_toml();
    assert!(
        text.contains("login = \"login.oscar.aol.com:5190\""),
        "{text}"
    );
    assert!(text.contains("mode = \"strict\""), "{text}");
    assert!(!text.contains("advertise"), "{text}");
    // Views are written as [[dns.views]] tables; an unset `fail` is left out, so a view
    // keeps following dns.fail after a round trip.
    let text = load(FULL, &[]).unwrap().to_toml();
    assert_eq!(text.matches("[[dns.views]]").count(), 2, "{text}");
    assert_eq!(text.matches("fail = ").count(), 2, "{text}");
    assert!(
        text.contains("\"tls://[2001:db8::53]:8853#dns.example.net\""),
        "{text}"
    );
}

// `[dns]`.

#[test]
fn unusable_dns_values_name_their_line_and_key() {
    const VIEWS: &str = "[dns]\n[[dns.views]]\nname = \"lab\"\nsubnets = [\"10.1.0.0/16\"]\n";
    for (text, key, line, column, message) in [
        (
            "[dns]\nnames = [\"login.example.net\", \"bad name.example.net\"]\n",
            "dns.names[1]",
            2,
            31,
            "\"bad name.example.net\": only letters, digits, '-' and '_'",
        ),
        (
            "[dns]\nnames = [\"login..example.net\"]\n",
            "dns.names[0]",
            2,
            10,
            "\"login..example.net\": every label must be 1 to 63 characters",
        ),
        (
            "[dns]\nlisten = [\"0.0.0.0:53\", \"192.0.2.1:53\"]\n",
            "dns.listen[1]",
            2,
            25,
            "192.0.2.1:53 overlaps 0.0.0.0:53",
        ),
        (
            "[dns]\nlisten = [\"[::1]:53\", \"[::1]:53\"]\n",
            "dns.listen[1]",
            2,
            23,
            "[::1]:53 is listed twice",
        ),
        (
            "[dns]\nlisten = [\"127.0.0.1:5353\"]\nupstream = [\"192.0.2.53\", \"127.0.0.1:5353\"]\n",
            "dns.upstream[1]",
            3,
            27,
            "127.0.0.1:5353: that is the responder itself",
        ),
        (
            // The default listener, 0.0.0.0:53, answers on 127.0.0.1:53 too.
            "[dns]\nupstream = [\"127.0.0.1\"]\n",
            "dns.upstream[0]",
            2,
            13,
            "127.0.0.1:53: that is the responder itself",
        ),
        (
            "[dns]\nallow = []\n",
            "dns.allow",
            2,
            9,
            "empty: every client would be REFUSED",
        ),
        (
            "[dns]\nttl = 86401\n",
            "dns.ttl",
            2,
            7,
            "86401 s: clients would keep a stale gateway address for over a day",
        ),
        (
            "[dns]\nbuiltin_names = false\n",
            "dns.builtin_names",
            2,
            17,
            "false with no dns.names: nothing would be redirected",
        ),
        (
            "[dns]\ngateway = [\"192.0.2.5\", \"0.0.0.0\"]\n",
            "dns.gateway[1]",
            2,
            25,
            "0.0.0.0 cannot be handed to clients",
        ),
        (
            "[dns]\n[[dns.views]]\nname = \"lab\"\nsubnets = []\n",
            "dns.views[0].subnets",
            4,
            11,
            "empty: no client would be in this view",
        ),
        (
            "[dns]\n[[dns.views]]\nname = \"default\"\nsubnets = [\"10.1.0.0/16\"]\n",
            "dns.views[0].name",
            3,
            8,
            "a view needs a name of its own",
        ),
        (
            &format!("{VIEWS}\n[[dns.views]]\nname = \"lab\"\nsubnets = [\"10.2.0.0/16\"]\n"),
            "dns.views[1].name",
            7,
            8,
            "\"lab\" is used by an earlier view",
        ),
        (
            // Equal prefixes cannot be told apart: one of the views would never be used.
            &format!("{VIEWS}\n[[dns.views]]\nname = \"lab2\"\nsubnets = [\"10.1.0.0/16\"]\n"),
            "dns.views[1].subnets[0]",
            8,
            12,
            "10.1.0.0/16 is already in view \"lab\"",
        ),
        (
            // Host bits do not make it another subnet.
            "[dns]\n[[dns.views]]\nname = \"lab\"\nsubnets = [\"10.1.0.0/16\", \"10.1.2.3/16\"]\n",
            "dns.views[0].subnets[1]",
            4,
            27,
            "10.1.2.3/16 is already in view \"lab\"",
        ),
        (
            &format!("{VIEWS}gateway = [\"224.0.0.1\"]\n"),
            "dns.views[0].gateway[0]",
            5,
            12,
            "224.0.0.1 cannot be handed to clients",
        ),
    ] {
        let err = load(text, &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{text}: {err:?}"
        );
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert_eq!(err.origin(), Some(&at(line, column)), "{text}: {err}");
        let expected = format!("imtegrity.toml:{line}:{column}: invalid {key}: {message}");
        assert!(err.to_string().starts_with(&expected), "{text}: {err}");
    }
}

#[test]
fn malformed_dns_values_name_their_key() {
    for (text, key, line, column, message) in [
        (
            "[dns]\nallow = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
            "dns.allow[1]",
            2,
            24,
            "invalid IP address syntax",
        ),
        (
            "[dns]\nfail = \"half\"\n",
            "dns.fail",
            2,
            8,
            "unknown variant `half`, expected `closed` or `open`",
        ),
        (
            "[dns]\n[[dns.views]]\nname = \"lab\"\nsubnet = [\"10.1.0.0/16\"]\n",
            "dns.views[0].subnet",
            4,
            1,
            "unknown field `subnet`",
        ),
    ] {
        let err = load(text, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Field { .. }), "{text}: {err:?}");
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert_eq!(err.origin(), Some(&at(line, column)), "{text}: {err}");
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
}

#[test]
fn an_upstream_that_does_not_parse_names_the_key() {
    let err = load("[dns]\nupstream = [\"tls://9.9.9.9\"]\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Field { .. }), "{err:?}");
    // `DnsUpstream` parses in `try_from`, after toml has let go of the element's span, so
    // the error points at the array rather than the element.
    assert_eq!(err.key(), Some("dns.upstream"), "{err}");
    assert_eq!(err.origin(), Some(&at(2, 12)), "{err}");
    assert_eq!(
        err.to_string(),
        "imtegrity.toml:2:12: \"tls://9.9.9.9\": DNS over TLS needs the server's certificate \
         name: tls://ip[:port]#name (key `dns.upstream`)"
    );
    for bad in ["dns.example.net", "192.0.2.53#name", "192.0.2.53:0"] {
        let err = load("", &[&format!("dns.upstream=[\"{bad}\"]")]).unwrap_err();
        assert_eq!(err.origin(), Some(&set("dns.upstream")), "{bad}: {err}");
        assert!(err.to_string().contains(bad), "{bad}: {err}");
    }
}

#[test]
fn dns_values_at_their_limits_are_accepted() {
    for text in [
        "[dns]\nttl = 86400\n",
        "[dns]\nttl = 0\nrate_limit = 0\nhealth_interval_secs = 0\n",
        // No responder: nothing to allow or redirect.
        "[dns]\nlisten = []\nallow = []\nbuiltin_names = false\n",
        "[dns]\nbuiltin_names = false\nnames = [\"login.example.net\"]\n",
        // Another port on the same host is another resolver, not the responder.
        "[dns]\nupstream = [\"127.0.0.1:5353\", \"127.0.0.53\"]\nlisten = [\"192.0.2.1:53\"]\n",
        // Nested subnets are what longest-prefix matching is for.
        "[dns]\n[[dns.views]]\nname = \"a\"\nsubnets = [\"10.0.0.0/8\"]\n\
         [[dns.views]]\nname = \"b\"\nsubnets = [\"10.1.0.0/16\"]\n",
    ] {
        load(text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn dns_lists_can_be_set_on_the_command_line() {
    let config = load(
        "[dns]\nlisten = [\"192.0.2.1:53\"]\nupstream = [\"192.0.2.53\"]\n",
        &["dns.listen=[]", r#"dns.upstream=["127.0.0.1:5353"]"#],
    )
    .unwrap();
    assert!(config.dns.listen.is_empty());
    assert_eq!(
        config.dns.upstream,
        [DnsUpstream {
            address: addr("127.0.0.1:5353"),
            tls_name: None,
        }]
    );
    let config = load(
        "",
        &[r#"dns.views=[{ name = "lab", subnets = ["10.1.0.0/16"], redirect = false }]"#],
    )
    .unwrap();
    assert_eq!(config.dns.views.len(), 1);
    assert!(!config.dns.views[0].redirect);
    // An override's validation error names the argument.
    let err = load("", &[r#"dns.upstream=["0.0.0.0:53"]"#]).unwrap_err();
    assert_eq!(err.key(), Some("dns.upstream[0]"));
    assert_eq!(err.origin(), Some(&set("dns.upstream")));
    let err = load("", &["dns.ttl=100000"]).unwrap_err();
    assert_eq!(err.origin(), Some(&set("dns.ttl")));
}

// `[tls]`.

#[test]
fn the_default_tls_names_cover_every_builtin_dns_name_and_not_all_of_aol_com() {
    // Every name the responder sends to the gateway must be one the CA may sign for, or a
    // client reaching it over TLS would fail; and the CA must not cover the rest of aol.com.
    let permitted = defaults::tls_permitted();
    let covered = |name: &str| {
        permitted
            .iter()
            .any(|base| name == base || name.ends_with(&format!(".{base}")))
    };
    for name in crate::dns::BUILTIN_NAMES {
        let name = name.strip_prefix("*.").unwrap_or(name);
        assert!(
            covered(name),
            "{name} is redirected but not in tls.permitted"
        );
    }
    for name in ["aol.com", "mail.aol.com", "login.aol.com", "www.aol.com"] {
        assert!(!covered(name), "{name}");
    }
}

#[test]
fn unusable_tls_values_name_their_line_and_key() {
    for (text, key, line, column, message) in [
        (
            "[tls]\nca_dir = \"\"\n",
            "tls.ca_dir",
            2,
            10,
            "empty; leave the key out",
        ),
        (
            "[tls]\npermitted = []\n",
            "tls.permitted",
            2,
            13,
            "empty: the CA could issue for no name",
        ),
        (
            "[tls]\npermitted = [\"oscar.aol.com\", \"*.icq.com\"]\n",
            "tls.permitted[1]",
            2,
            31,
            "\"*.icq.com\": an entry already covers every name below it; write \"icq.com\"",
        ),
        (
            "[tls]\npermitted = [\"com\"]\n",
            "tls.permitted[0]",
            2,
            14,
            "\"com\" is a whole top-level domain",
        ),
        (
            "[tls]\npermitted = [\"10.0.0.1\"]\n",
            "tls.permitted[0]",
            2,
            14,
            "\"10.0.0.1\": an IP address",
        ),
        (
            "[tls]\npermitted = [\"bad name.example\"]\n",
            "tls.permitted[0]",
            2,
            14,
            "\"bad name.example\": only letters, digits",
        ),
        (
            "[tls]\ndefault_name = \"*.oscar.aol.com\"\n",
            "tls.default_name",
            2,
            16,
            "\"*.oscar.aol.com\": a certificate name cannot be a wildcard",
        ),
        (
            "[tls]\ndefault_name = \"www.aol.com\"\n",
            "tls.default_name",
            2,
            16,
            "www.aol.com is outside tls.permitted",
        ),
        (
            "[tls]\nleaf_hours = 0\n",
            "tls.leaf_hours",
            2,
            14,
            "0 h: between 1 and 9528",
        ),
        (
            "[tls]\nleaf_hours = 9529\n",
            "tls.leaf_hours",
            2,
            14,
            "9529 h: between 1 and 9528 (397 days",
        ),
        (
            "[tls]\nleaf_hours = 24\nrenew_before_hours = 13\n",
            "tls.renew_before_hours",
            3,
            22,
            "13 h is more than half of tls.leaf_hours (24 h)",
        ),
        (
            "[tls]\ncache_size = 0\n",
            "tls.cache_size",
            2,
            14,
            "0 would mint a leaf for every connection",
        ),
    ] {
        let err = load(text, &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{text}: {err:?}"
        );
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert_eq!(err.origin(), Some(&at(line, column)), "{text}: {err}");
        let expected = format!("imtegrity.toml:{line}:{column}: invalid {key}: {message}");
        assert!(err.to_string().starts_with(&expected), "{text}: {err}");
    }
}

#[test]
fn malformed_tls_values_name_their_key() {
    let err = load("[tls]\nca_key = \"rsa-1024\"\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Field { .. }), "{err:?}");
    assert_eq!(err.key(), Some("tls.ca_key"));
    assert_eq!(err.origin(), Some(&at(2, 10)));
    assert!(
        err.to_string()
            .contains("unknown variant `rsa-1024`, expected `ecdsa-p256` or `rsa-2048`"),
        "{err}"
    );
    let err = load("[tls]\ncache_size = -1\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("tls.cache_size"));
    let err = load("[tls]\nleaf_days = 7\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("tls.leaf_days"));
}

#[test]
fn tls_values_at_their_limits_are_accepted() {
    for text in [
        "[tls]\nleaf_hours = 9528\n",
        "[tls]\nleaf_hours = 1\nrenew_before_hours = 0\n",
        "[tls]\nleaf_hours = 48\nrenew_before_hours = 24\n",
        "[tls]\ncache_size = 1\n",
        // A name, any case, a trailing dot; the default name at the top of a subtree.
        "[tls]\npermitted = [\"IM.Example.NET.\"]\ndefault_name = \"im.example.net\"\n",
        "[tls]\nca_key = \"rsa-2048\"\nca_dir = \"relative/ca\"\n",
    ] {
        load(text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn tls_values_can_be_set_on_the_command_line() {
    let config = load(
        "",
        &[
            "tls.ca_dir=/tmp/imtegrity ca",
            "tls.ca_key=rsa-2048",
            r#"tls.permitted=["im.example.net"]"#,
            "tls.default_name=login.im.example.net",
        ],
    )
    .unwrap();
    assert_eq!(config.tls.ca_dir, Some(PathBuf::from("/tmp/imtegrity ca")));
    assert_eq!(config.tls.ca_key, CaKey::Rsa2048);
    assert_eq!(config.tls.permitted, ["im.example.net"]);
    // Narrowing the names without moving the default name is caught (at the default name,
    // which no line or argument set).
    let err = load("", &[r#"tls.permitted=["icq.com"]"#]).unwrap_err();
    assert_eq!(err.key(), Some("tls.default_name"));
    assert_eq!(err.origin(), None);
    assert!(
        err.to_string()
            .starts_with("invalid tls.default_name: slogin.oscar.aol.com is outside tls.permitted"),
        "{err}"
    );
}

// `[policy]`.

/// A profile with one valid rule, for errors further down to be added to.
const PROFILE: &str = "[policy.profiles.standard]\n[[policy.profiles.standard.rules]]\nname = \"ok\"\naction = \"log\"\n";

#[test]
fn malformed_policy_values_name_their_key() {
    for (text, key, line, message) in [
        (
            format!(
                "{PROFILE}[[policy.profiles.standard.rules]]\nname = \"r\"\naction = \"drop\"\n"
            ),
            "policy.profiles.standard.rules[1].action",
            7,
            "unknown variant `drop`, expected one of `log`, `no_log`, `block`, `mask`, `alert`, `allow`",
        ),
        (
            format!("{PROFILE}kinds = [\"im\", \"sms\"]\n"),
            "policy.profiles.standard.rules[0].kinds[1]",
            5,
            "unknown variant `sms`, expected one of `im`, `chat`, `file`, `direct_im`",
        ),
        (
            format!("{PROFILE}keyword = [\"x\"]\n"),
            "policy.profiles.standard.rules[0].keyword",
            5,
            "unknown field `keyword`",
        ),
        (
            "[[policy.groups]]\nname = \"g\"\nscreen_names = [\"a\"]\n".to_owned(),
            "policy.groups[0]",
            1,
            "missing field `profile`",
        ),
        (
            "[policy]\nunknown_screen_names = \"deny\"\n".to_owned(),
            "policy.unknown_screen_names",
            2,
            "unknown variant `deny`, expected `allow` or `block`",
        ),
    ] {
        let err = load(&text, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Field { .. }), "{text}: {err:?}");
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        let Some(Origin::File { at: Some(at), .. }) = err.origin() else {
            panic!("{text}: {err}");
        };
        assert_eq!(at.line, line, "{text}: {err}");
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
}

#[test]
fn policy_values_can_be_set_on_the_command_line() {
    let config = load(
        PROFILE,
        &[
            "policy.default_profile=standard",
            "policy.profiles.standard.mask_char=#",
            "policy.profiles.standard.rules[0].action=block",
        ],
    );
    // Array elements cannot be addressed by --set; whole values can.
    assert!(
        matches!(config, Err(ConfigError::BadOverride { .. })),
        "{config:?}"
    );
    let config = load(
        PROFILE,
        &[
            "policy.default_profile=standard",
            "policy.profiles.standard.mask_char=#",
            "policy.directory=/srv/people.toml",
        ],
    )
    .unwrap();
    assert_eq!(config.policy.default_profile, "standard");
    assert_eq!(config.policy.profiles["standard"].mask_char, "#");
    assert_eq!(
        config.policy.directory,
        Some(PathBuf::from("/srv/people.toml"))
    );
}

/// The `[policy]` rules are the engine's to check (`policy::load_config`, whose tests cover
/// each rule); what it finds is pointed at its line or `--set` argument as this crate's own
/// findings are.
#[test]
fn a_check_made_above_is_pointed_at_where_its_key_was_set() {
    let engine = |config: &Config| {
        if config
            .policy
            .profiles
            .contains_key(&config.policy.default_profile)
        {
            Ok(())
        } else {
            Err(ConfigError::invalid(
                "policy.default_profile",
                "no such profile",
            ))
        }
    };
    let err = Config::load_with(
        FILE,
        PROFILE,
        &sets(&["policy.default_profile=trading"]),
        engine,
    )
    .unwrap_err();
    assert_eq!(err.origin(), Some(&set("policy.default_profile")));
    assert_eq!(err.key(), Some("policy.default_profile"));
    let text = format!("[policy]\ndefault_profile = \"trading\"\n{PROFILE}");
    let err = Config::load_with(FILE, &text, &[], engine).unwrap_err();
    assert_eq!(err.origin(), Some(&at(2, 19)));
    assert!(
        err.to_string()
            .starts_with("imtegrity.toml:2:19: invalid policy.default_profile: no such profile"),
        "{err}"
    );
    // The crate's own checks come first, and `load` makes none of the engine's.
    assert!(Config::load(FILE, &text, &[]).is_ok());
    let bad = format!("{text}[relay]\nmax_frame = 0\n");
    let err = Config::load_with(FILE, &bad, &[], engine).unwrap_err();
    assert_eq!(err.key(), Some("relay.max_frame"));
}

#[test]
fn a_policy_section_alone_keeps_the_built_in_default_profile() {
    let config = load("[policy]\n", &[]).unwrap();
    assert_eq!(config.policy, PolicyConfig::default());
    // Profiles refer to the built-in default without defining it.
    let config = load(
        "[[policy.groups]]\nname = \"all\"\nsubnets = [\"0.0.0.0/0\"]\nprofile = \"default\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.policy.groups[0].profile, DEFAULT_PROFILE);
}

#[test]
fn a_dns_view_takes_its_clients_from_a_policy_group() {
    let text = "[[policy.groups]]\nname = \"traders\"\nsubnets = [\"10.20.0.0/16\", \"10.30.0.7\"]\nprofile = \"default\"\n\
        [[policy.groups]]\nname = \"legal\"\nscreen_names = [\"counsel*\"]\nprofile = \"default\"\n\
        [dns]\n[[dns.views]]\nname = \"trading-floor\"\ngroup = \"traders\"\nsubnets = [\"10.21.0.0/16\"]\ngateway = [\"10.20.0.5\"]\n";
    let config = load(text, &[]).unwrap();
    let dns = config.effective_dns();
    assert_eq!(
        dns.views[0].subnets,
        [
            "10.21.0.0/16".parse::<ipnet::IpNet>().unwrap(),
            "10.20.0.0/16".parse().unwrap(),
            "10.30.0.7/32".parse().unwrap()
        ]
    );
    // The file's own view is unchanged: printing and reloading gives the same config.
    assert_eq!(config.dns.views[0].subnets.len(), 1);
    assert_eq!(load(&config.to_toml(), &[]).unwrap(), config);
    // An unknown group, or a group with no subnets, is an error at the view's key.
    let unknown = text.replace("group = \"traders\"", "group = \"trader\"");
    let err = load(&unknown, &[]).unwrap_err();
    assert_eq!(err.key(), Some("dns.views[0].group"), "{err}");
    assert_eq!(err.origin(), Some(&at(12, 9)), "{err}");
    assert!(
        err.to_string()
            .contains("no [[policy.groups]] entry is named \"trader\""),
        "{err}"
    );
    let no_nets = text.replace("group = \"traders\"", "group = \"legal\"");
    let err = load(&no_nets, &[]).unwrap_err();
    assert!(err.to_string().contains("has no subnets"), "{err}");
    // A group's subnet that another view already has is caught like any duplicate.
    let clash = format!("{text}[[dns.views]]\nname = \"other\"\nsubnets = [\"10.20.0.0/16\"]\n");
    let err = load(&clash, &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("already in view \"trading-floor\""),
        "{err}"
    );
    // Neither subnets nor a group: nobody would be in the view.
    let err = load("[dns]\n[[dns.views]]\nname = \"lab\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("dns.views[0].subnets"), "{err}");
    assert!(
        err.to_string().contains("give subnets, or a policy group"),
        "{err}"
    );
}

#[test]
fn an_ingest_listener_needs_a_token() {
    let err = load("[ingest]\nlisten = [\"127.0.0.1:5192\"]\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("ingest.token_file"), "{err}");
    let ok = load(
        "[ingest]\nlisten = [\"127.0.0.1:5192\"]\ntoken_file = \"/etc/t\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(ok.ingest.listen.len(), 1);
    assert_eq!(ok.ingest.auth, IngestAuthMode::Token);
    assert!(!ok.ingest.tls);
}

#[test]
fn ingest_authentication_needs_what_it_rests_on() {
    let listen = "[ingest]\nlisten = [\"127.0.0.1:5192\"]\n";
    let with = |extra: &str| load(&format!("{listen}{extra}"), &[]);
    // Client certificates alone: TLS, and no token file (which would suggest a token counts).
    let ok = with("tls = true\nauth = \"client_cert\"\n").unwrap();
    assert!(ok.ingest.auth.needs_client_cert() && !ok.ingest.auth.needs_token());
    let err = with("auth = \"client_cert\"\n").unwrap_err();
    assert_eq!(err.key(), Some("ingest.auth"), "{err}");
    assert!(err.to_string().contains("ingest.tls = true"), "{err}");
    let err = with("tls = true\nauth = \"client_cert\"\ntoken_file = \"/etc/t\"\n").unwrap_err();
    assert_eq!(err.key(), Some("ingest.token_file"), "{err}");
    assert!(err.to_string().contains("\"both\""), "{err}");
    // Both: the certificate and the token.
    let err = with("tls = true\nauth = \"both\"\n").unwrap_err();
    assert_eq!(err.key(), Some("ingest.token_file"), "{err}");
    let err = with("auth = \"both\"\ntoken_file = \"/etc/t\"\n").unwrap_err();
    assert_eq!(err.key(), Some("ingest.auth"), "{err}");
    with("tls = true\nauth = \"both\"\ntoken_file = \"/etc/t\"\n").unwrap();
    let err = with("auth = \"certificate\"\n").unwrap_err();
    assert!(err.to_string().contains("client_cert"), "{err}");
    // The certificate's name is a DNS name (the CA issues for no address).
    for bad in ["127.0.0.1", "*.example.net", "a b"] {
        let err = with(&format!(
            "tls = true\ntoken_file = \"/t\"\nname = \"{bad}\"\n"
        ))
        .unwrap_err();
        assert_eq!(err.key(), Some("ingest.name"), "{bad}: {err}");
    }
}

#[test]
fn sensor_settings_are_checked_and_settable() {
    let config = load(
        "",
        &[
            "sensor.interface=veth1",
            "sensor.allow=[\"10.0.0.1\"]",
            "sensor.passive=false",
        ],
    )
    .unwrap();
    assert_eq!(config.sensor.interface.as_deref(), Some("veth1"));
    assert_eq!(config.sensor.allow, strings(&["10.0.0.1"]));
    assert!(!config.sensor.passive);
    for (args, key) in [
        (&["sensor.interface=a/b"][..], "sensor.interface"),
        (
            &["sensor.interface=much-too-long-name"][..],
            "sensor.interface",
        ),
        (
            &["sensor.allow=[\"10.0.0.0/8\", \"nope\"]"][..],
            "sensor.allow[1]",
        ),
        (&["sensor.tls_names=[\"*.com\"]"][..], "sensor.tls_names[0]"),
        (&["sensor.max_flows=0"][..], "sensor.max_flows"),
        (&["sensor.flow_buffer=100"][..], "sensor.flow_buffer"),
        (&["sensor.flow_idle_secs=0"][..], "sensor.flow_idle_secs"),
        (&["sensor.capture_threads=65"][..], "sensor.capture_threads"),
    ] {
        let err = load("", args).unwrap_err();
        assert_eq!(err.key(), Some(key), "{args:?}: {err}");
    }
}

#[test]
fn the_console_listens_on_loopback_only_and_sessions_end() {
    let err = load("[console]\nlisten = [\"0.0.0.0:8443\"]\n", &[]).unwrap_err();
    assert!(err.to_string().contains("loopback addresses only"), "{err}");
    let config = load("[console]\nlisten = [\"0.0.0.0:8443\"]\ntls = true\n", &[]).unwrap();
    assert!(config.console.tls);
    let err = load("[console]\nname = \"no spaces allowed\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("console.name"), "{err}");
    let groups =
        "[[policy.groups]]\nname = \"traders\"\nscreen_names = [\"t*\"]\nprofile = \"default\"\n";
    for (sampling, says) in [
        (
            "group = \"nobody\"\nper_mille = 5",
            "console.sampling[0].group",
        ),
        (
            "group = \"traders\"\nper_mille = 0",
            "console.sampling[0].per_mille",
        ),
        (
            "group = \"traders\"\nper_mille = 1001",
            "console.sampling[0].per_mille",
        ),
    ] {
        let err = load(&format!("{groups}[[console.sampling]]\n{sampling}\n"), &[]).unwrap_err();
        assert!(err.to_string().contains(says), "{sampling}: {err}");
    }
    let twice = format!(
        "{groups}[[console.sampling]]\ngroup = \"*\"\nper_mille = 5\n[[console.sampling]]\ngroup = \"*\"\nper_mille = 9\n"
    );
    assert!(
        load(&twice, &[])
            .unwrap_err()
            .to_string()
            .contains("sampled twice")
    );
    let err = load("[console]\nidle_timeout_mins = 0\n", &[]).unwrap_err();
    assert!(
        err.to_string().contains("console.idle_timeout_mins"),
        "{err}"
    );
    let config = load("", &["console.listen=[\"[::1]:8443\"]"]).unwrap();
    assert_eq!(config.console.listen, vec![addr("[::1]:8443")]);
    assert_eq!(config.console.idle_timeout_mins, 15);
}
