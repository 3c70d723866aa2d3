//! Reads captures back with tshark's AIM dissector: malformed-packet count, the FLAP/SNAC
//! sequence, and any AIM field's values; and any fields of any protocol per packet
//! ([`field_rows`], e.g. DNS).
//!
//! tshark has no default port for AIM, so every call passes `-d tcp.port==P,aim` for each of
//! the caller's ports (real-peers.md §5). Several FLAPs in one TCP segment are all reported
//! (`-E occurrence=a`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::{HarnessError, Peers};

/// Bound on one tshark run.
const TSHARK_TIMEOUT: Duration = Duration::from_secs(30);
/// Separates several occurrences of one field; cannot appear in the dissector's output.
const AGGREGATOR: char = '\u{1f}';

/// One TCP segment that carried AIM data, as tshark decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AimPacket {
    /// `frame.number`.
    pub frame: u32,
    /// `tcp.srcport`.
    pub src_port: u16,
    /// `tcp.dstport`.
    pub dst_port: u16,
    /// `aim.channel` of each FLAP in the segment (1 sign-on, 2 SNAC, 4 sign-off, 5 keep-alive).
    pub channels: Vec<u8>,
    /// `(aim.fnac.family, aim.fnac.subtype)` of each SNAC in the segment.
    pub snacs: Vec<(u16, u16)>,
}

/// How many packets tshark flags `_ws.malformed` when `aim_ports` are decoded as AIM.
pub async fn malformed_count(
    peers: &Peers,
    pcap: &Path,
    aim_ports: &[u16],
) -> Result<usize, HarnessError> {
    let out = run(
        peers,
        pcap,
        aim_ports,
        &["-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number"],
    )
    .await?;
    Ok(out.lines().filter(|line| !line.trim().is_empty()).count())
}

/// Every packet with AIM data, in capture order.
pub async fn aim_packets(
    peers: &Peers,
    pcap: &Path,
    aim_ports: &[u16],
) -> Result<Vec<AimPacket>, HarnessError> {
    packets_matching(peers, pcap, aim_ports, "aim").await
}

/// The AIM packets tshark flags `_ws.malformed`, in capture order, with the SNACs it decoded
/// before giving up (the last one is where the dissector threw).
///
/// For a capture with chat traffic, [`malformed_count`] is not enough on its own: tshark
/// 4.0's `dissect_aim_chat_outgoing_msg` / `_incoming_msg` (0x000E/0x0005 and 0x0006) read a
/// "buddy name" length byte at a fixed offset 30 of the SNAC, a layout no current client
/// uses, so it throws on libpurple's own chat messages. Tests use this to check that the
/// malformed packets are exactly those.
pub async fn malformed_packets(
    peers: &Peers,
    pcap: &Path,
    aim_ports: &[u16],
) -> Result<Vec<AimPacket>, HarnessError> {
    packets_matching(peers, pcap, aim_ports, "aim && _ws.malformed").await
}

/// The AIM packets matching display filter `filter`.
async fn packets_matching(
    peers: &Peers,
    pcap: &Path,
    aim_ports: &[u16],
    filter: &str,
) -> Result<Vec<AimPacket>, HarnessError> {
    let aggregator = format!("aggregator={AGGREGATOR}");
    let out = run(
        peers,
        pcap,
        aim_ports,
        &[
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            &aggregator,
            "-E",
            "separator=/t",
            "-e",
            "frame.number",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "aim.channel",
            "-e",
            "aim.fnac.family",
            "-e",
            "aim.fnac.subtype",
        ],
    )
    .await?;
    out.lines()
        .filter(|line| !line.is_empty())
        .map(parse_packet)
        .collect()
}

/// Every value of AIM field `field` (e.g. `aim.messageblock.message`, `aim.buddyname`) in
/// capture order, several per packet where a packet has several.
pub async fn aim_field_values(
    peers: &Peers,
    pcap: &Path,
    aim_ports: &[u16],
    field: &str,
) -> Result<Vec<String>, HarnessError> {
    check_field(field)?;
    let aggregator = format!("aggregator={AGGREGATOR}");
    let out = run(
        peers,
        pcap,
        aim_ports,
        &[
            "-Y",
            field,
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            &aggregator,
            "-e",
            field,
        ],
    )
    .await?;
    Ok(out
        .lines()
        .filter(|line| !line.is_empty())
        .flat_map(|line| line.split(AGGREGATOR))
        .map(str::to_owned)
        .collect())
}

/// One packet's values of the fields asked for: field name → every occurrence in the packet
/// (none when the packet lacks the field).
pub type FieldRow = BTreeMap<String, Vec<String>>;

/// The packets matching display filter `filter` (any protocol tshark knows, e.g. `dns`), in
/// capture order, each with its values of `fields`. `aim_ports` are decoded as AIM.
pub async fn field_rows(
    peers: &Peers,
    pcap: &Path,
    aim_ports: &[u16],
    filter: &str,
    fields: &[&str],
) -> Result<Vec<FieldRow>, HarnessError> {
    if fields.is_empty() {
        return Err(HarnessError::InvalidArgument {
            what: "tshark fields",
            value: String::new(),
            why: "at least one field is needed",
        });
    }
    for field in fields {
        check_field(field)?;
    }
    let aggregator = format!("aggregator={AGGREGATOR}");
    let mut args = vec![
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        &aggregator,
        "-E",
        "separator=/t",
    ];
    for field in fields {
        args.extend(["-e", field]);
    }
    let out = run(peers, pcap, aim_ports, &args).await?;
    out.lines()
        .filter(|line| !line.is_empty())
        .map(|line| parse_row(line, fields))
        .collect()
}

/// One `-T fields` line of `fields`, tab-separated, occurrences joined by [`AGGREGATOR`].
fn parse_row(line: &str, fields: &[&str]) -> Result<FieldRow, HarnessError> {
    let columns: Vec<&str> = line.split('\t').collect();
    if columns.len() != fields.len() {
        return Err(HarnessError::Unparsable {
            program: "tshark",
            line: line.to_owned(),
        });
    }
    Ok(fields
        .iter()
        .zip(columns)
        .map(|(field, column)| {
            let values = column
                .split(AGGREGATOR)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .collect();
            ((*field).to_owned(), values)
        })
        .collect())
}

/// A field name is letters, digits, `.` and `_` (it goes to tshark as one argument anyway).
fn check_field(field: &str) -> Result<(), HarnessError> {
    if field.is_empty()
        || !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    {
        return Err(HarnessError::InvalidArgument {
            what: "tshark field",
            value: field.to_owned(),
            why: "a field name is letters, digits, `.` and `_`",
        });
    }
    Ok(())
}

/// `tshark -r pcap -d tcp.port==P,aim ... <args>` → stdout.
async fn run(
    peers: &Peers,
    pcap: &Path,
    aim_ports: &[u16],
    args: &[&str],
) -> Result<String, HarnessError> {
    let mut command = Command::new(&peers.tshark);
    command.arg("-n").arg("-r").arg(pcap);
    for port in aim_ports {
        command.arg("-d").arg(format!("tcp.port=={port},aim"));
    }
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|source| HarnessError::Spawn {
        program: peers.tshark.clone(),
        source,
    })?;
    let output = match tokio::time::timeout(TSHARK_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => return Err(HarnessError::io("run tshark", source)),
        Err(_) => {
            return Err(HarnessError::Timeout {
                waiting_for: format!("tshark to read {}", pcap.display()),
                timeout: TSHARK_TIMEOUT,
                transcript: String::new(),
            });
        }
    };
    if !output.status.success() {
        return Err(HarnessError::ToolFailed {
            program: peers.tshark.clone(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// One `-T fields` line: frame, ports, channels, families, subtypes.
fn parse_packet(line: &str) -> Result<AimPacket, HarnessError> {
    let unparsable = || HarnessError::Unparsable {
        program: "tshark",
        line: line.to_owned(),
    };
    let mut columns = line.split('\t');
    let mut next = || columns.next().ok_or_else(unparsable);
    let frame = next()?.parse().map_err(|_| unparsable())?;
    let src_port = next()?.parse().map_err(|_| unparsable())?;
    let dst_port = next()?.parse().map_err(|_| unparsable())?;
    let (channels, families, subtypes) = (next()?, next()?, next()?);
    let channels = numbers(channels).ok_or_else(unparsable)?;
    let families = numbers(families).ok_or_else(unparsable)?;
    let subtypes = numbers(subtypes).ok_or_else(unparsable)?;
    if families.len() != subtypes.len() {
        return Err(unparsable());
    }
    Ok(AimPacket {
        frame,
        src_port,
        dst_port,
        channels,
        snacs: families.into_iter().zip(subtypes).collect(),
    })
}

/// `0x02<US>0x02` (or decimal) → numbers; an empty column is no numbers.
fn numbers<T: TryFrom<u32>>(column: &str) -> Option<Vec<T>> {
    column
        .split(AGGREGATOR)
        .filter(|value| !value.is_empty())
        .map(|value| {
            let parsed = match value.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => value.parse().ok(),
            };
            parsed.and_then(|n| T::try_from(n).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_output_with_several_flaps_per_segment() {
        let line =
            "31\t49672\t15191\t0x02\u{1f}0x02\u{1f}0x01\t0x0001\u{1f}0x0013\t0x000e\u{1f}0x0002";
        let packet = parse_packet(line).unwrap();
        assert_eq!(packet.frame, 31);
        assert_eq!((packet.src_port, packet.dst_port), (49672, 15191));
        assert_eq!(packet.channels, [2, 2, 1]);
        assert_eq!(packet.snacs, [(0x0001, 0x000e), (0x0013, 0x0002)]);

        let sign_on = parse_packet("4\t37474\t15190\t0x01\t\t").unwrap();
        assert_eq!(sign_on.channels, [1]);
        assert!(sign_on.snacs.is_empty());
    }

    #[test]
    fn parses_rows_of_any_fields() {
        let fields = ["ip.src", "dns.qry.name", "dns.a"];
        let row = parse_row(
            "10.0.0.1\tlogin.oscar.aol.com\t10.0.0.2\u{1f}10.0.0.3",
            &fields,
        )
        .unwrap();
        assert_eq!(row["ip.src"], ["10.0.0.1"]);
        assert_eq!(row["dns.qry.name"], ["login.oscar.aol.com"]);
        assert_eq!(row["dns.a"], ["10.0.0.2", "10.0.0.3"]);
        let query = parse_row("10.0.0.2\tlogin.oscar.aol.com\t", &fields).unwrap();
        assert!(query["dns.a"].is_empty());
        assert!(parse_row("10.0.0.2\tlogin.oscar.aol.com", &fields).is_err());
        assert!(check_field("dns.qry.name").is_ok());
        assert!(check_field("dns.a || 1").is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_packet("x\t1\t2\t\t\t").is_err());
        assert!(parse_packet("1\t2").is_err());
        assert!(parse_packet("1\t2\t3\t0x02\t0x0017\t").is_err());
        assert!(parse_packet("1\t2\t3\t0x1ff\t\t").is_err());
    }
}
