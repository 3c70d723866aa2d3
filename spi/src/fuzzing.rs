//! Entry points for the cargo-fuzz targets in `fuzz/`: the gateway's answer as the shipper
//! reads it (hand-written HTTP/1.1, from the network, inside the Sametime server).

/// An answer from the gateway, delivered in reads of the sizes the first bytes pick:
/// reading never panics, never returns a body larger than the reader's bound, and the same
/// bytes read in one piece give the same result.
pub fn gateway_answer(data: &[u8]) {
    let Some((&split, answer)) = data.split_first() else {
        return;
    };
    let whole = crate::shipper::read_answer(&mut &answer[..]);
    let mut pieces = Pieces {
        data: answer,
        step: usize::from(split % 17) + 1,
    };
    let pieced = crate::shipper::read_answer(&mut pieces);
    match (&whole, &pieced) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the answer depends on how it was cut"),
        (Err(_), Err(_)) => {}
        _ => panic!("one reading failed and the other did not: {whole:?} / {pieced:?}"),
    }
    if let Ok((_, body)) = &whole {
        assert!(
            body.len() <= crate::shipper::MAX_ANSWER + 4096,
            "unbounded body"
        );
    }
}

/// A reader that hands over `step` bytes at a time, as a socket may.
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
