//! The responder's hardening keys: read from the file and from `--set`, and a bad value
//! reported at the line or argument that set it.

use super::*;

const FILE: &str = "dns-hardening.toml";

fn load(text: &str, args: &[&str]) -> Result<Config, ConfigError> {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    Config::load(FILE, text, &args)
}

#[test]
fn hardening_keys_from_the_file_and_from_set() {
    let text = "[dns]\nrate_limit_bytes = 4096\nquery_log_rate = 7\nclient_table_size = 64\nupstream_idle_secs = 3\n";
    let dns = load(text, &[]).unwrap().dns;
    assert_eq!(
        (
            dns.rate_limit_bytes,
            dns.query_log_rate,
            dns.client_table_size,
            dns.upstream_idle_secs
        ),
        (4096, 7, 64, 3)
    );
    let dns = load(text, &["dns.query_log_rate=0", "dns.upstream_idle_secs=60"])
        .unwrap()
        .dns;
    assert_eq!((dns.query_log_rate, dns.upstream_idle_secs), (0, 60));
}

#[test]
fn bad_hardening_values_point_at_their_line_or_argument() {
    let err = load("[dns]\n\nclient_table_size = 3\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("dns.client_table_size"), "{err}");
    assert_eq!(
        err.origin(),
        Some(&Origin::File {
            name: FILE.into(),
            at: Some(LineCol {
                line: 3,
                column: 21
            }),
        }),
        "{err}"
    );
    let err = load("", &["dns.upstream_idle_secs=0"]).unwrap_err();
    assert_eq!(err.key(), Some("dns.upstream_idle_secs"), "{err}");
    assert_eq!(
        err.origin(),
        Some(&Origin::Override {
            key: "dns.upstream_idle_secs".into()
        }),
        "{err}"
    );
    let err = load("[dns]\nrate_limit_bytes = -1\n", &[]).unwrap_err();
    assert!(err.to_string().contains(":2"), "{err}");
}
