//! The BUCP password hashes (oscar.md §2.1), shared by the lab server (to check) and the
//! scripted client (to log in).

use md5::{Digest, Md5};
use oscar::message::bucp::AIM_HASH_MAGIC;

/// `MD5(key ‖ MD5(password) ‖ magic)`: the "strong" hash clients flag with TLV 0x004C.
pub fn strong_hash(key: &[u8], password: &[u8]) -> [u8; 16] {
    let inner = Md5::digest(password);
    let mut h = Md5::new();
    h.update(key);
    h.update(inner);
    h.update(AIM_HASH_MAGIC);
    h.finalize().into()
}

/// `MD5(key ‖ password ‖ magic)`: the older hash.
pub fn weak_hash(key: &[u8], password: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(key);
    h.update(password);
    h.update(AIM_HASH_MAGIC);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_hashes_differ_and_depend_on_the_key() {
        assert_ne!(strong_hash(b"1234", b"pw"), weak_hash(b"1234", b"pw"));
        assert_ne!(strong_hash(b"1234", b"pw"), strong_hash(b"1235", b"pw"));
    }
}
