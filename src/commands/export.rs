//! `imtegrity export`: matching records to jsonl, csv or eml files plus a manifest with
//! every file's SHA-256, who exported what from which archive state, signed by the archive
//! key, for e-discovery.

use std::io::Write;

use archive::export::{
    ExportOptions, Exporter, Format, ManifestSigner, SIGNATURE_FILE, Tool, export,
};
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::ExportArgs;
use crate::exit::UsageError;
use crate::output::emit;

pub(crate) fn run(args: &ExportArgs, json: bool) -> crate::CmdResult {
    let format: Format = args.format.parse().map_err(UsageError)?;
    let zone = crate::timespec::zone(args.tz.as_deref())?;
    if args.excel && format != Format::Csv {
        return Err(UsageError("--excel applies to --format csv only".into()).into());
    }
    let query = args.filters.query(archive::now_ns())?;
    let access = ArchiveAccess::open(&args.archive.dir(), false)?;
    // Who exports: this process's user when it opened the store; through a running owner,
    // the user the owner's peer-credential check admitted, which the owner writes into the
    // manifest it signs (see `archive_servers::admin`).
    let (signer, exporter): (&dyn ManifestSigner, Exporter) = match &access {
        ArchiveAccess::Local(archive, who) => (
            archive,
            Exporter {
                uid: who.uid,
                user: who.user.clone(),
                host: archive::host_name(),
            },
        ),
        ArchiveAccess::Remote(client) => (client, client.export_state()?.exporter),
    };
    let options = ExportOptions {
        format,
        out_dir: args.out.clone(),
        node: archive::host_name(),
        zone,
        byte_order_mark: args.excel,
        exporter,
        tool: Tool {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
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
    let manifest = export(records, &query, &options, signer, &mut progress)?;
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
    let head = manifest.archive.chain_head.as_ref().map_or_else(
        || "none".to_owned(),
        |h| format!("record {} ({})", h.upto_id, h.hash),
    );
    emit(
        json,
        &format!(
            "exported {} records as {} to {}\n{}\nmanifest: {}\nsigned: {} (Ed25519 over the \
             exact bytes of manifest.json)\narchive public key: {}\nchain head: {head}\n\
             times: {}",
            manifest.count,
            manifest.format,
            args.out.display(),
            files.join("\n"),
            args.out.join("manifest.json").display(),
            args.out.join(SIGNATURE_FILE).display(),
            manifest.archive.public_key,
            manifest.time_zone,
        ),
        &json!({
            "event": "exported",
            "out": args.out,
            "signature": args.out.join(SIGNATURE_FILE),
            "manifest": serde_json::to_value(&manifest)?,
        }),
    );
    Ok(())
}
