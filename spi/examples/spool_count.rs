//! Prints how many records a spool holds and its source id: a look inside a Sametime
//! server's spool (`cargo run -p spi --example spool_count -- DIR`) without the server.
#![allow(clippy::print_stdout, missing_docs)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: spool_count SPOOL_DIR")?;
    let spool = imtegrity_stchatlog::Spool::open(std::path::Path::new(&dir))?;
    println!("{} records waiting, source {}", spool.len(), spool.source());
    Ok(())
}
