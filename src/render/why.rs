//! `why PORT`: the verdict of [`crate::diagnose::bind::why`] as text (the
//! answer for each kind of bind, the reason, the holders, any caveats, and
//! the `tcpstat -K` command that frees the port, or why closing sockets
//! would not) or as one JSON object.

use std::io::{self, Write};
use std::net::IpAddr;

use comfy_table::Table;

use super::wire::{JsonVerdict, JsonVerdictEach};
use super::{bare_table, sanitize, write_table};
use crate::config::Format;
use crate::diagnose::bind::{Holder, KernelCheck, KillAdvice, Verdict};
use crate::diagnose::{counted, owner_label, secs};
use crate::model::addr::NtopPort;
use crate::model::{Endpoint, TcpState, TimerKind};
use crate::netns::label::Labels;

/// Writes the verdict in `format`: text, or one JSON object on one line.
pub fn write(w: &mut impl Write, format: Format, v: &Verdict) -> io::Result<()> {
    match format {
        Format::Json => super::json::write_line(w, &JsonVerdict::from(v)),
        Format::Table => write_text(w, v),
    }
}

/// `why PORT -N all`: one verdict per namespace, each named by what the
/// namespace is. Text: which namespaces hold the port and which could
/// bind it, then each holding namespace's verdict in full; JSON: one
/// object.
pub fn write_each(
    w: &mut impl Write,
    format: Format,
    each: &[(u64, String, Verdict)],
    labels: &Labels,
) -> io::Result<()> {
    if format == Format::Json {
        return super::json::write_line(w, &JsonVerdictEach::new(each, labels));
    }
    let Some((_, _, first)) = each.first() else {
        return writeln!(w, "no network namespace could be read");
    };
    let asked = endpoint(first.address, first.port);
    let (free, held): (Vec<_>, Vec<_>) = each.iter().partition(|(_, _, v)| v.bindable);
    let names = |list: &[&(u64, String, Verdict)]| {
        let names: Vec<String> = list
            .iter()
            .map(|(_, within, _)| sanitize(within).into_owned())
            .collect();
        names.join(", ")
    };
    writeln!(w, "{asked} in {} network namespaces:", each.len())?;
    match held.is_empty() {
        true => writeln!(w, "  in use in none")?,
        false => writeln!(w, "  in use in {}: {}", held.len(), names(&held))?,
    }
    match free.is_empty() {
        true => writeln!(w, "  free in none")?,
        false => writeln!(
            w,
            "  free (a plain bind() succeeds) in {}: {}",
            free.len(),
            names(&free)
        )?,
    }
    for (netns, within, v) in held {
        writeln!(w, "\nIn {} (net:[{netns}]):", sanitize(within))?;
        write_text(w, v)?;
    }
    Ok(())
}

/// Writes the verdict as text: the answer for each kind of bind, the
/// reason, the holders, and any caveats.
pub fn write_text(w: &mut impl Write, v: &Verdict) -> io::Result<()> {
    let asked = endpoint(v.address, v.port);
    let state = if v.bindable { "free" } else { "in use" };
    writeln!(w, "{asked}: {state}")?;
    let plain = if v.bindable {
        "succeeds"
    } else {
        "fails (EADDRINUSE)"
    };
    let reuse = match v.bindable_with_reuseaddr {
        Some(true) => "succeeds",
        Some(false) => "fails (EADDRINUSE)",
        None => "succeeds only if the holders had SO_REUSEADDR too",
    };
    writeln!(w, "  {:<26}{plain}", "bind():")?;
    writeln!(w, "  {:<26}{reuse}", "bind() with SO_REUSEADDR:")?;
    let checked = match &v.kernel {
        KernelCheck::Answered(_) => "yes, by a test bind() in this namespace".into(),
        KernelCheck::NotAsked(why) => format!("no ({why})"),
        KernelCheck::Failed(why) => format!("no (the test bind() failed: {})", sanitize(why)),
    };
    writeln!(w, "  {:<26}{checked}", "checked with the kernel:")?;
    writeln!(w, "  why: {}", sanitize(&v.reason))?;
    if !v.holders.is_empty() {
        writeln!(w, "  held by:")?;
        write_table(w, holders_table(&v.holders))?;
    }
    if let Some(ms) = v.expires_ms {
        writeln!(w, "  last remnant expires in: {}", secs(ms))?;
    }
    for c in &v.caveats {
        writeln!(w, "  note: {}", sanitize(c))?;
    }
    write_kill_advice(w, v)
}

/// The last line: the `tcpstat -K` command that frees the port, or why
/// closing sockets would not.
fn write_kill_advice(w: &mut impl Write, v: &Verdict) -> io::Result<()> {
    let command = v.kill.command(v.netns.as_deref()).unwrap_or_default();
    match &v.kill {
        KillAdvice::Free => Ok(()),
        KillAdvice::Close {
            connections,
            remnants_left: 0,
            ..
        } => writeln!(
            w,
            "  to free it, close {}: {}",
            counted(*connections, "live connection", "live connections"),
            sanitize(&command)
        ),
        KillAdvice::Close {
            connections,
            remnants_left,
            ..
        } => writeln!(
            w,
            "  to free it for SO_REUSEADDR, close {} ({} stay until they expire): {}",
            counted(*connections, "live connection", "live connections"),
            counted(*remnants_left, "teardown remnant", "teardown remnants"),
            sanitize(&command)
        ),
        KillAdvice::Listener => writeln!(
            w,
            "  closing sockets (-K) would not free it: a live listener holds it; \
             stop or reconfigure its program"
        ),
        KillAdvice::RemnantsOnly => writeln!(
            w,
            "  closing sockets (-K) is not needed: only teardown remnants hold it; \
             bind with SO_REUSEADDR, or wait until they go"
        ),
    }
}

fn endpoint(addr: IpAddr, port: u16) -> String {
    NtopPort(addr, port).to_string()
}

fn holders_table(holders: &[Holder]) -> Table {
    let mut table = bare_table();
    for h in holders {
        table.add_row(vec![
            format!("    {}", h.state),
            holder_endpoint(&h.socket.local),
            holder_endpoint(&h.socket.remote),
            holder_detail(h),
        ]);
    }
    table
}

/// An end as `addr:port`, or `-` for none (a listener's remote end).
fn holder_endpoint(e: &Endpoint) -> String {
    let address = e.display_addr();
    if e.port == 0 && address.is_unspecified() {
        "-".to_string()
    } else {
        endpoint(address, e.port)
    }
}

/// Who holds a socket, or for a remnant, when it goes.
fn holder_detail(h: &Holder) -> String {
    if let Some(procs) = h.processes.filter(|p| !p.is_empty()) {
        return procs
            .iter()
            .map(|p| sanitize(&owner_label(p.pid, &p.name)).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
    }
    if h.inode != 0 {
        return String::new();
    }
    let s = &h.socket;
    match s.timer.kind {
        TimerKind::TimeWait => format!("{} left", secs(s.timer.expires_ms)),
        _ if matches!(s.state, TcpState::Established | TcpState::CloseWait) => {
            "not yet accepted".to_string()
        }
        _ => "orphaned".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::bind::tests::{ip, now, time_wait};
    use crate::diagnose::bind::why;
    use crate::diagnose::summary::tests::FakeProc;
    use crate::model::TcpState::*;
    use crate::test_support::{sock, SocketExt};

    fn printed(format: Format, v: &Verdict) -> String {
        let mut out = Vec::new();
        write(&mut out, format, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_shape() {
        let sockets = [time_wait("10.0.0.1:80", "10.0.0.9:5000", 2000)];
        let v = why(80, ip("10.0.0.1"), &sockets, None, now());
        let text = printed(Format::Json, &v);
        let v: serde_json::Value = serde_json::from_str(text.strip_suffix('\n').unwrap()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        // serde_json's map lists keys sorted.
        assert_eq!(
            keys,
            [
                "address",
                "bindable",
                "bindable_with_reuseaddr",
                "caveats",
                "expires_at_unix_ms",
                "expires_ms",
                "held_by",
                "holders",
                "kernel",
                "kill",
                "owners_complete",
                "port",
                "reason"
            ]
        );
        assert_eq!(v["bindable_with_reuseaddr"], serde_json::Value::Null);
        assert_eq!(v["holders"][0]["state"], "TIME_WAIT");
        assert_eq!(v["holders"][0]["local"]["address"], "10.0.0.1");
    }

    #[test]
    fn names_in_the_reason_and_holders_are_escaped() {
        let fake = FakeProc::new(&[(9, "ev\x1b[2Jil", &[50])]);
        let map = fake.map();
        let sockets = [sock(Listen, "0.0.0.0:80", "0.0.0.0:0").inode(50)];
        let v = why(80, None, &sockets, Some(&map), now());
        let text = printed(Format::Table, &v);
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(text.contains(r"  why: pid 9 (ev\u{1b}[2Jil) listening on 0.0.0.0:80"));
        assert!(text.contains("pid 9 (ev\\u{1b}[2Jil)\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&printed(Format::Json, &v)).unwrap();
        let reason = json["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(r"pid 9 (ev\u{1b}[2Jil) listening"),
            "{reason}"
        );
        assert_eq!(json["holders"][0]["processes"][0]["name"], "ev\x1b[2Jil");
    }

    #[test]
    fn text_form() {
        let sockets = [
            sock(Listen, "0.0.0.0:80", "0.0.0.0:0"),
            time_wait("10.0.0.1:80", "10.0.0.9:5000", 2000),
        ];
        let text = printed(Format::Table, &why(80, None, &sockets, None, now()));
        eprintln!("{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "[::]:80: in use");
        assert_eq!(lines[1], "  bind():                   fails (EADDRINUSE)");
        assert_eq!(lines[2], "  bind() with SO_REUSEADDR: fails (EADDRINUSE)");
        assert_eq!(lines[3], "  checked with the kernel:  no (not asked)");
        assert!(lines[4].starts_with("  why: a socket listening on 0.0.0.0:80"));
        assert_eq!(lines[5], "  held by:");
        assert!(lines[6].contains("LISTEN") && lines[6].contains("0.0.0.0:80"));
        assert!(lines[7].contains("TIME_WAIT") && lines[7].ends_with("2 s left"));
    }
}
