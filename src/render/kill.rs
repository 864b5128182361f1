//! `-K`: the sockets closed (or, with `--dry-run`, to be closed) as a
//! table with a RESULT column, the matching sockets left open with the
//! reason, and the confirmation preview; or, with `--json`, one object.
//! Addresses are always numeric here: what is closed must be unambiguous.
//! Owners are shown with `-p`, as in the listing; with `-N all`, a NETNS
//! column names each socket's namespace by its label, whole.

use std::io::{self, Write};

use comfy_table::Table;

use super::table::{format_endpoint, program_label};
use super::wire::JsonKill;
use super::{bare_table, sanitize, write_table};
use crate::config::Format;
use crate::diagnose::kill::{Report, Target};
use crate::error::os_text;
use crate::model::kill::{KillOutcome, KillResult};
use crate::model::Socket;
use crate::netns::label::Labels;
use crate::owners::ProcessMap;

/// What the rows are shown with: their owners (`-p`) and, with `-N all`,
/// the labels of their namespaces.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown<'a> {
    pub owners: Option<&'a ProcessMap>,
    pub netns: Option<&'a Labels>,
}

/// Writes the report in `format`.
pub fn write(w: &mut impl Write, format: Format, report: &Report, shown: Shown) -> io::Result<()> {
    match format {
        Format::Json => {
            super::json::write_line(w, &JsonKill::new(report, shown.owners, shown.netns))
        }
        Format::Table => write_text(w, report, shown),
    }
}

/// The text form: the targets with their result, then what was left open.
fn write_text(w: &mut impl Write, report: &Report, shown: Shown) -> io::Result<()> {
    let mut table = header(true, shown);
    for t in &report.targets {
        table.add_row(row(t.socket, shown, Some(result_text(report.dry_run, t))));
    }
    write_table(w, table)?;
    for t in report.targets.iter().filter(|t| t.help.is_some()) {
        let help = t.help.as_deref().unwrap_or_default();
        let what = connection_in(t.socket, shown.netns);
        writeln!(w, "  {what}: {}", sanitize(help))?;
    }
    if !report.left_open.is_empty() {
        writeln!(w, "left open ({}):", report.left_open.len())?;
        for l in &report.left_open {
            let what = connection_in(l.socket, shown.netns);
            writeln!(w, "  {what}: {}", sanitize(&l.reason))?;
        }
    }
    Ok(())
}

/// The confirmation preview: the table of the first `rows` targets,
/// without results, and how many more there are.
pub fn write_preview(
    w: &mut impl Write,
    report: &Report,
    shown: Shown,
    rows: usize,
) -> io::Result<()> {
    let mut table = header(false, shown);
    for t in report.targets.iter().take(rows) {
        table.add_row(row(t.socket, shown, None));
    }
    write_table(w, table)?;
    match report.targets.len().saturating_sub(rows) {
        0 => Ok(()),
        more => writeln!(w, "… and {more} more"),
    }
}

fn header(with_result: bool, shown: Shown) -> Table {
    let mut table = bare_table();
    let mut cells = vec!["Proto", "Local Address", "Foreign Address", "State"];
    if shown.netns.is_some() {
        cells.insert(0, "NETNS");
    }
    if shown.owners.is_some() {
        cells.push("PID/Program name");
    }
    if with_result {
        cells.push("Result");
    }
    table.set_header(cells);
    table
}

fn row(s: &Socket, shown: Shown, result: Option<String>) -> Vec<String> {
    let mut cells = vec![
        s.proto().to_string(),
        endpoint(&s.local),
        endpoint(&s.remote),
        s.state.name().to_string(),
    ];
    if let Some(labels) = shown.netns {
        cells.insert(0, sanitize(netns_name(s, labels)).into_owned());
    }
    if let Some(map) = shown.owners {
        let first = map.owners(s.inode).first().filter(|_| s.inode != 0);
        cells.push(first.map_or_else(|| "-".into(), |o| program_label(o.pid, &o.name)));
    }
    cells.extend(result);
    cells
}

/// The RESULT cell: the result's name, with the errno when it is an error.
fn result_text(dry_run: bool, t: &Target) -> String {
    match t.outcome {
        None if dry_run => "would close".into(),
        None => "not tried".into(),
        Some(KillOutcome {
            result: KillResult::Error,
            errno,
        }) => format!("error ({})", os_text(&io::Error::from_raw_os_error(errno))),
        Some(o) => o.result.name().into(),
    }
}

fn endpoint(e: &crate::model::Endpoint) -> String {
    let mut out = String::new();
    format_endpoint(&mut out, e, None, true);
    out
}

/// `local -> remote (STATE)`, to say which socket a note is about.
pub fn connection(s: &Socket) -> String {
    format!(
        "{} -> {} ({})",
        endpoint(&s.local),
        endpoint(&s.remote),
        s.state
    )
}

/// [`connection`], and with `-N all` `in NAME` after it.
pub fn connection_in(s: &Socket, netns: Option<&Labels>) -> String {
    match netns {
        Some(labels) => format!("{} in {}", connection(s), sanitize(netns_name(s, labels))),
        None => connection(s),
    }
}

/// The label of `s`'s namespace (`?` for one not labelled, as in the
/// listing).
fn netns_name<'l>(s: &Socket, labels: &'l Labels) -> &'l str {
    labels.get(&s.netns).map_or("?", |l| l.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StateSet;
    use crate::model::TcpState::*;
    use crate::test_support::sock;

    fn printed(format: Format, report: &Report) -> String {
        let mut out = Vec::new();
        write(&mut out, format, report, Shown::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_has_a_result_column_and_the_left_open() {
        let rows = [
            sock(Established, "10.0.0.1:5000", "10.0.0.2:80"),
            sock(CloseWait, "10.0.0.1:5001", "10.0.0.2:80"),
            sock(Listen, "0.0.0.0:80", "0.0.0.0:0"),
        ];
        let states = StateSet::ALL.without(StateSet::listening());
        let mut report = Report::plan(&rows, states, false);
        report.record(0, KillOutcome::of_errno(0));
        report.record(1, KillOutcome::of_errno(libc::EINVAL));
        let text = printed(Format::Table, &report);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("Proto") && lines[0].ends_with("Result"),
            "{text}"
        );
        assert!(
            lines[1].contains("10.0.0.1:5000") && lines[1].ends_with("closed"),
            "{text}"
        );
        assert!(lines[2].ends_with("error (Invalid argument)"), "{text}");
        assert_eq!(lines[3], "left open (1):");
        assert!(
            lines[4].starts_with("  0.0.0.0:80 -> 0.0.0.0:* (LISTEN): a listener"),
            "{text}"
        );
    }

    /// `-N all`: a NETNS column first, each row named by its namespace's
    /// label; the notes say where; JSON sockets carry `netns`.
    #[test]
    fn every_namespace_is_named() {
        use crate::netns::label::Label;
        let in_ns = |mut s: Socket, netns| {
            s.netns = netns;
            s
        };
        let rows = [
            in_ns(sock(Established, "127.0.0.1:47141", "127.0.0.1:7141"), 11),
            in_ns(sock(Established, "127.0.0.1:47141", "127.0.0.1:7141"), 12),
            in_ns(sock(Listen, "127.0.0.1:7141", "0.0.0.0:0"), 12),
        ];
        let labels: Labels = [(11, "api-7f9c"), (12, "blue")]
            .into_iter()
            .map(|(inode, name)| {
                let label = Label {
                    name: name.into(),
                    ..Label::default()
                };
                (inode, label)
            })
            .collect();
        let states = StateSet::ALL.without(StateSet::listening());
        let report = Report::plan(&rows, states, true);
        let shown = Shown {
            owners: None,
            netns: Some(&labels),
        };
        let mut out = Vec::new();
        write(&mut out, Format::Table, &report, shown).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NETNS "), "{text}");
        assert!(lines[1].starts_with("api-7f9c "), "{text}");
        assert!(lines[2].starts_with("blue "), "{text}");
        assert!(
            lines[4].starts_with("  127.0.0.1:7141 -> 0.0.0.0:* (LISTEN) in blue: "),
            "{text}"
        );
        let mut preview = Vec::new();
        write_preview(&mut preview, &report, shown, 1).unwrap();
        let preview = String::from_utf8(preview).unwrap();
        assert!(
            preview.lines().nth(1).unwrap().starts_with("api-7f9c "),
            "{preview}"
        );
        let mut out = Vec::new();
        write(&mut out, Format::Json, &report, shown).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["sockets"][1]["socket"]["netns"]["name"], "blue");
        assert_eq!(v["left_open"][0]["socket"]["netns"]["inode"], 12);
    }

    #[test]
    fn json_dry_run_has_null_results() {
        let rows = [sock(Established, "10.0.0.1:5000", "10.0.0.2:80")];
        let report = Report::plan(&rows, StateSet::ALL, true);
        let v: serde_json::Value = serde_json::from_str(&printed(Format::Json, &report)).unwrap();
        assert_eq!(v["dry_run"], true);
        assert_eq!(v["sockets"][0]["result"], serde_json::Value::Null);
        assert_eq!(v["sockets"][0]["socket"]["state"], "ESTABLISHED");
        assert_eq!(v["left_open"].as_array().unwrap().len(), 0);
    }
}
