//! Counts in words: "1 record", "2 records", so a production's reports read as written.

/// `n` and `noun`, plural unless `n` is one: `counted(1, "record")` is "1 record".
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(0u32, "record"), "0 records");
        assert_eq!(counted(1u32, "record"), "1 record");
        assert_eq!(counted(2u64, "conversation"), "2 conversations");
    }
}
