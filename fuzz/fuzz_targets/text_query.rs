#![no_main]
// The console's search box (text_index::words): any query and any message text, split into
// parts, matched, and marked; the marked pieces always put the text back together.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (query, message) = text.split_at(middle);
    let parts = text_index::words::parse(query);
    if let Some(marks) = text_index::words::matches(message, &parts) {
        let pieces = text_index::words::highlighted(message, &marks);
        let joined: String = pieces.into_iter().map(|(p, _)| p).collect();
        assert_eq!(joined, message);
    }
});
