//! Entry points for the fuzz targets in `fuzz/` that read archive files (the unit tests below
//! run the same checks on every prefix of a real journal).

/// The commit journal (`<archive>/journal`) as a crash, a bad disk or an attacker may leave
/// it, read as the archive reads it at open: nothing panics, the whole frames and the bytes
/// after them account for the entire input, and whole frames are a prefix of it.
pub fn journal(data: &[u8]) {
    let (contents, whole) = crate::store::journal::parse(data);
    let whole = usize::try_from(whole).unwrap_or(usize::MAX);
    assert!(whole <= data.len());
    assert_eq!(
        whole as u64 + contents.torn_bytes,
        data.len() as u64,
        "whole frames then the rest: {contents:?}"
    );
    assert!(contents.frames.is_empty() || whole > 0);
}

#[cfg(test)]
mod tests {
    use crate::store::journal::Frame;

    #[test]
    fn every_prefix_and_every_flipped_byte_of_a_journal_reads_without_panicking() {
        let mut bytes = Vec::new();
        for id in 1..=3u64 {
            let frame = Frame {
                records: vec![(id, vec![id as u8; 20])],
                marks: vec![("s".into(), id)],
                owners: vec![("s".into(), "c".into())],
                head: vec![1, 2, 3],
            };
            let payload = postcard::to_stdvec(&frame).unwrap_or_default();
            bytes.extend(log_frame::encode(id, &payload).unwrap_or_default());
        }
        for cut in 0..=bytes.len() {
            super::journal(&bytes[..cut]);
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x55;
            super::journal(&flipped);
        }
    }
}
