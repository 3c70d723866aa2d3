//! Certificate serial numbers.

use rcgen::SerialNumber;

use crate::CertError;

/// A fresh random serial: 16 bytes from the OS, the top bit cleared so it is positive and
/// the next one set so it always encodes in exactly 16 bytes (126 random bits; the CA/Browser
/// Forum asks for at least 64). rcgen's default, a hash of the public key, would repeat for
/// every certificate over one key.
pub(crate) fn random_serial() -> Result<SerialNumber, CertError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CertError::Random(e.to_string()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn serials_are_positive_sixteen_bytes_and_do_not_repeat() {
        let serials: Vec<Vec<u8>> = (0..10_000)
            .map(|_| random_serial().unwrap().to_bytes())
            .collect();
        for s in &serials {
            assert_eq!(s.len(), 16);
            assert_eq!(s[0] & 0xc0, 0x40, "{s:02x?}");
        }
        let distinct: HashSet<&Vec<u8>> = serials.iter().collect();
        assert_eq!(distinct.len(), serials.len());
        // Every other bit varies: no byte is stuck across the run.
        for i in 0..16 {
            let values: HashSet<u8> = serials
                .iter()
                .map(|s| s[i] & if i == 0 { 0x3f } else { 0xff })
                .collect();
            assert!(
                values.len() > 32,
                "byte {i} takes only {} values",
                values.len()
            );
        }
    }
}
