#![no_main]
// The SNI name a client sends, as the gateway's certificate resolver treats it: normalised
// (or refused) without panicking, stable when normalised again, and checked against the
// CA's subtrees without panicking.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = certs::normalize(text) {
        assert_eq!(certs::normalize(&name).ok().as_deref(), Some(name.as_str()));
        if let Ok(scope) = certs::NameScope::permitted(["oscar.aol.com", "icq.com"]) {
            let _ = scope.permits(&name);
        }
    }
});
