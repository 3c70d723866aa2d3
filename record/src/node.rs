//! Who captured a record: the node name every record carries.

/// This machine's host name (`/etc/hostname`), or `gateway`: the default node name in
/// records and exports, the same whichever capture point (relay, sensor, Sametime module)
/// writes them, so a search by node finds one machine's records under one name.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "gateway".to_owned())
}

/// Lower-case hex, for reports, JSON and bytes kept in a record's detail.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_and_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn a_node_always_has_a_name() {
        assert!(!host_name().is_empty());
    }
}
