//! `-s`: the [`Summary`] of [`crate::diagnose::summary::summarize`] as
//! text (tables for the counts, lines for the rest, findings last; process
//! names escaped) or as one JSON object.

use std::io::{self, Write};

use comfy_table::{CellAlignment, Table};

use super::wire::{JsonSummary, JsonSummaryEach};
use super::{bare_table, sanitize, write_table};
use crate::config::Format;
use crate::diagnose::summary::{
    all_findings, EphemeralUse, NamespaceSummary, StateDetail, Summary,
};
use crate::model::addr::NtopPort;
use crate::netns::label::Labels;

/// Writes `s` in `format`: text, or one JSON object on one line.
pub fn write(w: &mut impl Write, format: Format, s: &Summary) -> io::Result<()> {
    match format {
        Format::Json => super::json::write_line(w, &JsonSummary::from(s)),
        Format::Table => write_text(w, s),
    }
}

/// Writes `s` as text.
pub fn write_text(w: &mut impl Write, s: &Summary) -> io::Result<()> {
    write_figures(w, s)?;
    write_findings(w, s)
}

/// `-s -N all`: each namespace's summary (text: one section per namespace
/// that has sockets, then every finding, most serious first; JSON: one
/// object).
pub fn write_each(
    w: &mut impl Write,
    format: Format,
    each: &[NamespaceSummary],
    labels: &Labels,
) -> io::Result<()> {
    // The labels name each namespace in JSON; text says `within`.
    if format == Format::Json {
        return super::json::write_line(w, &JsonSummaryEach::new(each, labels));
    }
    let mut empty = 0;
    for ns in each {
        if ns.summary.total == 0 {
            empty += 1;
            continue;
        }
        writeln!(w, "In {} (net:[{}]):", sanitize(&ns.within), ns.netns)?;
        write_figures(w, &ns.summary)?;
        writeln!(w)?;
    }
    if empty > 0 {
        writeln!(w, "Namespaces with no sockets summarised: {empty}")?;
    }
    let all = all_findings(each);
    if all.is_empty() {
        return writeln!(w, "\nFindings in every namespace: none");
    }
    writeln!(w, "\nFindings in every namespace, most serious first:")?;
    for (_, f) in all {
        let severity = f.severity.name();
        writeln!(w, "  {severity:<6}  {}", sanitize(&f.message))?;
    }
    Ok(())
}

/// The figures of `s`, as text: everything but the findings.
fn write_figures(w: &mut impl Write, s: &Summary) -> io::Result<()> {
    let (tcp, tcp6) = s
        .states
        .iter()
        .fold((0, 0), |(a, b), c| (a + c.tcp, b + c.tcp6));
    write!(w, "Sockets: {} (tcp {tcp}, tcp6 {tcp6}", s.total)?;
    for d in &s.datagrams {
        write!(w, ", {} {}", d.proto, d.connected + d.unconnected)?;
    }
    writeln!(w, ")")?;
    let datagrams: usize = s
        .datagrams
        .iter()
        .map(|d| d.connected + d.unconnected)
        .sum();
    if s.total > datagrams {
        write_table(w, states_table(s))?;
    }
    if !s.datagrams.is_empty() {
        writeln!(w, "\nProto  connected  unconnected")?;
        for d in &s.datagrams {
            writeln!(
                w,
                "{:<5} {:>10} {:>12}",
                d.proto, d.connected, d.unconnected
            )?;
        }
    }
    for d in s.details.iter().filter(|d| d.count > 0) {
        write_detail(w, s, d)?;
    }
    write_orphans(w, s)?;
    if let Some(e) = &s.ephemeral {
        write_ephemeral(w, e)?;
    }
    let e = &s.established;
    if e.total > 0 {
        writeln!(
            w,
            "\nESTABLISHED: {} with keepalive, {} without, {} busy (keepalive not visible); \
             {} retransmitting, {} on a zero window",
            e.keepalive, e.no_keepalive, e.busy, e.retransmitting, e.zero_window
        )?;
    }
    Ok(())
}

fn plain_table(header: &[&str]) -> Table {
    let mut table = bare_table();
    table.set_header(header.to_vec());
    table
}

fn align_right(table: &mut Table, from: usize) {
    for i in from..table.column_count() {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn states_table(s: &Summary) -> Table {
    let mut table = plain_table(&["State", "tcp", "tcp6", "total"]);
    for c in s.states.iter().filter(|c| c.tcp + c.tcp6 > 0) {
        table.add_row(vec![
            c.state.to_string(),
            c.tcp.to_string(),
            c.tcp6.to_string(),
            (c.tcp + c.tcp6).to_string(),
        ]);
    }
    align_right(&mut table, 1);
    table
}

fn write_detail(w: &mut impl Write, s: &Summary, d: &StateDetail) -> io::Result<()> {
    write!(w, "\n{}: {}", d.state, d.count)?;
    if d.state == "TIME_WAIT" {
        let t = &s.timewait;
        if let (Some(max), Some(pct)) = (t.max_buckets, t.percent) {
            write!(
                w,
                " ({} timewait sockets of tcp_max_tw_buckets {max}, {pct}%)",
                t.timewait_sockets
            )?;
        }
    }
    writeln!(w)?;
    let mut table = bare_table();
    let ports: Vec<String> = d
        .top_local_ports
        .iter()
        .map(|p| format!("{} ({})", p.port, p.count))
        .collect();
    let remotes: Vec<String> = d
        .top_remotes
        .iter()
        .map(|r| format!("{} ({})", NtopPort(r.address, r.port), r.count))
        .collect();
    table.add_row(vec!["  local ports".to_string(), ports.join(", ")]);
    table.add_row(vec!["  remotes".to_string(), remotes.join(", ")]);
    if let Some(procs) = &d.top_processes {
        let procs: Vec<String> = procs
            .iter()
            .map(|p| format!("pid {} {} ({})", p.pid, sanitize(&p.name), p.count))
            .collect();
        let text = if procs.is_empty() && s.unreadable_processes > 0 {
            "none seen (some processes could not be read; run as root)".to_string()
        } else if procs.is_empty() {
            "none (no program holds them)".to_string()
        } else {
            procs.join(", ")
        };
        table.add_row(vec!["  processes".to_string(), text]);
    }
    write_table(w, table)
}

fn write_orphans(w: &mut impl Write, s: &Summary) -> io::Result<()> {
    let o = &s.orphans;
    if o.total == 0 {
        return Ok(());
    }
    let by: Vec<String> = o
        .by_state
        .iter()
        .map(|t| format!("{} {}", t.state, t.count))
        .collect();
    write!(w, "\nOrphans: {} ({})", o.total, by.join(", "))?;
    if o.in_timewait > 0 {
        write!(w, ", {} of them timewait sockets", o.in_timewait)?;
    }
    writeln!(w)
}

fn write_ephemeral(w: &mut impl Write, e: &EphemeralUse) -> io::Result<()> {
    writeln!(
        w,
        "\nEphemeral ports {}-{} ({} ports)",
        e.low, e.high, e.ports
    )?;
    if e.top_remotes.is_empty() {
        return writeln!(w, "  no outgoing connection uses them");
    }
    let mut table = plain_table(&["  remote", "local ports", "share"]);
    for r in &e.top_remotes {
        table.add_row(vec![
            format!("  {}", NtopPort(r.address, r.port)),
            r.local_ports.to_string(),
            format!("{}%", r.percent),
        ]);
    }
    align_right(&mut table, 1);
    write_table(w, table)
}

fn write_findings(w: &mut impl Write, s: &Summary) -> io::Result<()> {
    if s.findings.is_empty() {
        return writeln!(w, "\nFindings: none");
    }
    writeln!(w, "\nFindings:")?;
    for f in &s.findings {
        let severity = f.severity.name();
        writeln!(w, "  {severity:<6}  {}", sanitize(&f.message))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::summary::summarize;
    use crate::diagnose::summary::tests::{dump, owners, sys, FakeProc};
    use crate::diagnose::Sysctls;

    fn printed(format: Format, s: &Summary) -> String {
        let mut out = Vec::new();
        write(&mut out, format, s).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_form() {
        let fake = owners();
        let map = fake.map();
        let text = printed(Format::Table, &summarize(&dump(), Some(&map), &sys()));
        eprintln!("{text}");
        assert!(text.lines().all(|l| l == l.trim_end()), "{text}");
        assert!(!text.contains('\x1b'), "names are escaped");
        assert!(text.starts_with("Sockets: 34 (tcp 32, tcp6 2)\n"), "{text}");
        for needle in [
            "TIME_WAIT: 8 (9 timewait sockets of tcp_max_tw_buckets 10, 90%)",
            "CLOSE_WAIT: 14",
            "pid 2620 python3 (12)",
            r"pid 7 evil\u{1b}[2J (1)",
            "Orphans: 2 (FIN_WAIT1 1, FIN_WAIT2 1)",
            "Ephemeral ports 40000-40009 (10 ports)",
            "10.0.0.5:5432",
            "ESTABLISHED: 1 with keepalive, 1 without, 2 busy",
            "  high    9 timewait sockets",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
    }

    #[test]
    fn names_in_findings_are_escaped_but_kept_in_their_own_field() {
        let leaky: Vec<u64> = (100..112).collect();
        let fake = FakeProc::new(&[(2620, "py\x1b]0;x\x07", &leaky)]);
        let map = fake.map();
        let s = summarize(&dump(), Some(&map), &sys());
        let text = printed(Format::Table, &s);
        assert!(!text.contains(['\x1b', '\x07']), "{text:?}");
        assert!(
            text.contains(r"  medium  pid 2620 (py\u{1b}]0;x\u{7}) holds 12 sockets in CLOSE_WAIT")
        );
        let v: serde_json::Value = serde_json::from_str(&printed(Format::Json, &s)).unwrap();
        let leak = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == "close_wait")
            .unwrap();
        let message = leak["message"].as_str().unwrap();
        assert!(
            message.starts_with(r"pid 2620 (py\u{1b}]0;x\u{7}) holds 12"),
            "{message}"
        );
        assert_eq!(
            v["details"][1]["top_processes"][0]["name"],
            "py\x1b]0;x\x07"
        );
    }

    #[test]
    fn json_is_one_object_on_one_line() {
        let text = printed(Format::Json, &summarize(&dump(), None, &sys()));
        let line = text.strip_suffix('\n').unwrap();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["total"], 34);
        assert_eq!(v["details"][1]["state"], "CLOSE_WAIT");
        assert_eq!(v["details"][1]["top_processes"], serde_json::Value::Null);
        assert_eq!(v["findings"][0]["severity"], "high");
        assert_eq!(v["ephemeral"]["top_remotes"][0]["percent"], 60.0);
        let empty = printed(Format::Json, &summarize(&[], None, &Sysctls::default()));
        let empty: serde_json::Value = serde_json::from_str(&empty).unwrap();
        assert_eq!(empty["ephemeral"], serde_json::Value::Null);
        assert_eq!(empty["findings"], serde_json::json!([]));
    }
}
