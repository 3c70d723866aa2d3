//! Prints how many records a spool holds, their times, its size and source id, and what the
//! shipper last said: a look inside a Sametime server's spool
//! (`cargo run -p spi --example spool_count -- DIR`), even while the server runs (reading
//! needs no lock; see `spool_inspect`).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // In words, not Rust's debug form of the error.
            eprintln!("spool_count: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: spool_count SPOOL_DIR")?;
    let s = imtegrity_stchatlog::spool_inspect::summary(std::path::Path::new(&dir))?;
    println!(
        "{} records waiting, source {}, oldest {:?} newest {:?} (UTC ns), {} bytes in {} segments",
        s.records,
        s.source.as_deref().unwrap_or("(none yet)"),
        s.oldest_ns,
        s.newest_ns,
        s.bytes,
        s.segments
    );
    if !s.damaged.is_empty() || s.undecodable > 0 {
        println!(
            "damaged segments: {:?}; undecodable records: {}",
            s.damaged, s.undecodable
        );
    }
    if let Some(problem) = s.shipping.as_ref().and_then(|st| st.problem()) {
        println!("{problem}");
    }
    Ok(())
}
