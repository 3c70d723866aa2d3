//! `imtegrity export`: matching records to jsonl, csv or eml files plus a manifest with
//! every file's SHA-256, for e-discovery.

use std::io::Write;

use archive::export::{ExportOptions, Format, export};
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::{ExportArgs, UsageError};
use crate::output::emit;

pub(crate) fn run(args: &ExportArgs, json: bool) -> crate::CmdResult {
    let format: Format = args.format.parse().map_err(UsageError)?;
    let query = args.filters.query(archive::now_ns())?;
    let access = ArchiveAccess::open(&args.archive.dir(), false)?;
    let options = ExportOptions {
        format,
        out_dir: args.out.clone(),
        node: archive::host_name(),
    };
    let started = std::time::Instant::now();
    // Progress goes to stderr so stdout stays the result; a terminal sees it update in place.
    let mut progress = |n: u64| {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rexported {n} records ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    };
    let recorded = json!({ "format": format.as_str(), "out": args.out });
    let records = access.search(&query, "export", recorded)?;
    let manifest = export(records, &query, &options, &mut progress)?;
    if manifest.count > 0 {
        eprintln!();
    }
    let files: Vec<String> = manifest
        .files
        .iter()
        .map(|f| {
            format!(
                "  {}  {} ({} records, {} bytes)",
                f.sha256, f.name, f.records, f.bytes
            )
        })
        .collect();
    emit(
        json,
        &format!(
            "exported {} records as {} to {}\n{}\nmanifest: {}",
            manifest.count,
            manifest.format,
            args.out.display(),
            files.join("\n"),
            args.out.join("manifest.json").display()
        ),
        &json!({"event": "exported", "out": args.out, "manifest": serde_json::to_value(&manifest)?}),
    );
    Ok(())
}
