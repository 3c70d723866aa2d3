use super::*;

const CSV: &str = "\
# exported from HR, 2026-11-30
id,name,email,screen_names,addresses
jsmith,John Smith,jsmith@example.com,JSmith Trader; jsmith2 ,10.20.1.7
akumar,,,AKumar,10.20.0.0/16;2001:db8::/64
eap,EAP line,,,
";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn csv_rows_become_employees() {
    let d = Directory::parse_csv(CSV).unwrap();
    assert_eq!(d.len(), 3);
    let j = d.by_screen_name("jsmithtrader").unwrap();
    assert_eq!(j.id, "jsmith");
    assert_eq!(j.name, "John Smith");
    assert_eq!(j.email.as_deref(), Some("jsmith@example.com"));
    assert_eq!(j.screen_names, ["JSmith Trader", "jsmith2"]);
    // An empty name is the id; empty lists are empty.
    let a = d.by_id("AKUMAR").unwrap();
    assert_eq!((a.name.as_str(), a.email.as_deref()), ("akumar", None));
    assert!(d.by_id("eap").unwrap().screen_names.is_empty());
}

#[test]
fn screen_names_are_found_in_any_case_and_spacing() {
    let d = Directory::parse_csv(CSV).unwrap();
    assert_eq!(d.by_screen_name("J Smith Trader").unwrap().id, "jsmith");
    assert_eq!(d.by_screen_name("JSMITH2").unwrap().id, "jsmith");
    assert!(d.by_screen_name("jsmith").is_none());
}

#[test]
fn addresses_are_found_by_longest_prefix() {
    let d = Directory::parse_csv(CSV).unwrap();
    // 10.20.1.7 is jsmith's workstation inside akumar's /16.
    assert_eq!(d.by_address(ip("10.20.1.7")).unwrap().id, "jsmith");
    assert_eq!(d.by_address(ip("::ffff:10.20.1.7")).unwrap().id, "jsmith");
    assert_eq!(d.by_address(ip("10.20.9.9")).unwrap().id, "akumar");
    assert_eq!(d.by_address(ip("2001:db8::42")).unwrap().id, "akumar");
    assert!(d.by_address(ip("10.21.0.1")).is_none());
}

#[test]
fn columns_may_come_in_any_order_and_only_id_is_required() {
    let d = Directory::parse_csv("screen_names,ID\nbob;bobby,b1\n").unwrap();
    assert_eq!(d.by_screen_name("bobby").unwrap().id, "b1");
    assert!(d.by_id("b1").unwrap().addresses.is_empty());
}

#[test]
fn csv_errors_name_the_line() {
    for (text, line, message) in [
        (
            "id,nmae\n",
            1,
            "unknown column \"nmae\", expected the header id,name,email,screen_names,addresses",
        ),
        ("name,email\n", 1, "no id column"),
        ("id,id\n", 1, "column \"id\" is named twice"),
        ("id,name\na,A\nb\n", 3, "1 fields, but the header has 2"),
        (
            "id,addresses\na,10.0.0.300\n",
            2,
            "a: \"10.0.0.300\" is not an IP address or network",
        ),
        ("id\na\n\nA\n", 4, "id \"A\" is listed twice"),
        ("id,screen_names\n ,x\n", 2, "empty id"),
        (
            "id,screen_names\na,Bob\nb,b o b\n",
            3,
            "screen name \"b o b\" of b is already a's",
        ),
        (
            "id,screen_names\na,bob;BOB\n",
            2,
            "screen name \"BOB\" of a is listed twice",
        ),
        (
            "id,addresses\na,10.0.0.0/8\nb,10.1.2.3/8\n",
            3,
            "address 10.0.0.0/8 of b is already a's",
        ),
        // Lines are counted as an editor shows them: comments, blank lines, CRLF, and
        // quoted fields over several lines included.
        (
            "# HR\r\nid,name\r\n\r\na,A\r\n# c\r\na,B\r\n",
            6,
            "id \"a\" is listed twice",
        ),
        (
            "id,name\n\"a\",\"two\nlines\"\nb\nc,C\n",
            4,
            "1 fields, but the header has 2",
        ),
        ("# HR\nid,nmae\n", 2, "unknown column"),
    ] {
        let err = Directory::parse_csv(text).unwrap_err();
        assert_eq!(err.line, Some(line), "{text:?}: {err}");
        assert!(err.message.starts_with(message), "{text:?}: {err}");
        assert!(
            err.to_string().starts_with(&format!("line {line}: ")),
            "{err}"
        );
    }
}

#[test]
fn toml_tables_become_employees() {
    let d = Directory::parse_toml(
        r#"
[[employee]]
id = "jsmith"
name = "John Smith"
email = "jsmith@example.com"
screen_names = ["JSmith Trader"]
addresses = ["10.20.1.7"]

[[employee]]
id = "akumar"
"#,
    )
    .unwrap();
    assert_eq!(d.by_screen_name("jsmithtrader").unwrap().name, "John Smith");
    assert_eq!(d.by_address(ip("10.20.1.7")).unwrap().id, "jsmith");
    assert_eq!(d.by_id("akumar").unwrap().name, "akumar");
    assert!(Directory::parse_toml("").unwrap().is_empty());
}

#[test]
fn toml_errors_name_the_line() {
    for (text, line, message) in [
        (
            "[[employee]]\nid = \"a\"\nnmae = \"x\"\n",
            3,
            "unknown field `nmae`",
        ),
        ("[[employee]]\nname = \"x\"\n", 1, "missing field `id`"),
        (
            "[[employee]]\nid = \"a\"\n[[employee]]\nid = \"b\"\naddresses = [\"x\"]\n",
            3,
            "b: \"x\" is not an IP address",
        ),
        (
            "[[employee]]\nid = \"a\"\nscreen_names = [\"s\"]\n\n[[employee]]\nid = \"b\"\nscreen_names = [\"S\"]\n",
            5,
            "screen name \"S\" of b is already a's",
        ),
        ("[[employee]\n", 1, ""),
    ] {
        let err = Directory::parse_toml(text).unwrap_err();
        assert_eq!(err.line, Some(line), "{text:?}: {err}");
        assert!(err.message.starts_with(message), "{text:?}: {err}");
    }
}

#[test]
fn new_checks_like_the_parsers_without_lines() {
    let person = |id: &str, sn: &str| Employee {
        id: id.into(),
        name: id.into(),
        email: None,
        screen_names: vec![sn.into()],
        addresses: vec![],
    };
    let d = Directory::new(vec![person("a", "x"), person("b", "y")]).unwrap();
    assert_eq!(d.employees().len(), 2);
    let err = Directory::new(vec![person("a", "x"), person("b", "X")]).unwrap_err();
    assert_eq!(err.line, None);
    assert_eq!(err.to_string(), "screen name \"X\" of b is already a's");
}

#[test]
fn the_file_extension_picks_the_format() {
    let toml = "[[employee]]\nid = \"jsmith\"\nscreen_names = [\"JSmith\"]\n";
    let csv = "id,screen_names\njsmith,JSmith\n";
    for (path, text) in [
        ("d.toml", toml),
        ("D.TOML", toml),
        ("d.csv", csv),
        ("d", csv),
    ] {
        let directory = Directory::parse_for_path(std::path::Path::new(path), text)
            .unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert!(directory.by_screen_name("jsmith").is_some(), "{path}");
    }
    assert!(Directory::parse_for_path(std::path::Path::new("d.csv"), toml).is_err());
}
