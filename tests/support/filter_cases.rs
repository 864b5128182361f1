//! Filter cases for the zoo: a tcpstat command line and the oracle that
//! says which sockets it must list, run in both namespaces of a [`Zoo`]
//! from both sources, with every disagreement collected as text.
//!
//! Only which sockets are listed is compared, as (local, remote, state);
//! the zoo test checks every other field. The zoo keeps changing a little
//! (retransmission timers fire, TIME_WAIT and request sockets expire after
//! a minute), so a case that disagrees is retaken a few times before it is
//! reported: a real filter bug disagrees every time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::time::Duration;

use super::compare::tcpstat_bin;
use super::netns::{Netns, Side};
use super::oracle::{parse_ss, parse_tcpstat_json, Key, Row, View};
use super::zoo::Zoo;

/// How often a disagreeing case is taken in all before it is reported.
const ATTEMPTS: usize = 3;

/// Most sockets listed for one difference.
const MAX_LINES: usize = 12;

/// The sockets a view lists: (endpoints, netstat state) → how many times.
type Listing = BTreeMap<(Key, String), usize>;

/// What the oracle's selection must look like, so that a case cannot pass
/// by selecting nothing in the zoo.
#[derive(Clone, Copy)]
pub enum Expect {
    /// At least one socket, in one of the namespaces.
    Some,
    /// Nothing in either namespace.
    Nothing,
    /// At least one socket for which the function holds, described by the
    /// text.
    Including(&'static str, fn(&Row) -> bool),
}

/// Where the expected sockets come from.
pub enum Oracle {
    /// ss with these arguments, filtering by itself.
    Ss(Vec<String>),
    /// The rows of an unfiltered `ss -tanepH` (with owners and uids) that
    /// the predicate keeps: for the filters ss does not have.
    Rows {
        what: String,
        keep: Box<dyn Fn(&Row) -> bool>,
    },
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Oracle::Ss(args) => write!(f, "ss {}", shell_words(args)),
            Oracle::Rows { what, .. } => write!(f, "the rows of ss -tanepH {what}"),
        }
    }
}

/// One filter case.
pub struct Case {
    /// tcpstat's arguments; `--json` and `--source` are added.
    pub tcpstat: Vec<String>,
    pub oracle: Oracle,
    pub expect: Expect,
}

fn owned(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

impl Case {
    /// `tcpstat -tan ARGS` against `ss -tanH FILTER`, whose words are split
    /// at blanks (ss itself needs `state`/`exclude` clauses as separate
    /// words). Both have `-a`, in `-tan`: ss without it would hide LISTEN,
    /// SYN_RECV and TIME_WAIT, tcpstat only LISTEN. An explicit state list
    /// replaces `-a` in both.
    pub fn ss(tcpstat: &[&str], ss_filter: &str) -> Case {
        Case::scoped("-tan", tcpstat, "-tanH", ss_filter)
    }

    /// Like [`Case::ss`] with other scope flags on each side (`-tn`, `-tln`).
    pub fn scoped(tcpstat_flags: &str, tcpstat: &[&str], ss_flags: &str, ss_filter: &str) -> Case {
        let mut t = vec![tcpstat_flags.to_string()];
        t.extend(owned(tcpstat));
        let mut ss = vec![ss_flags.to_string()];
        ss.extend(ss_filter.split_whitespace().map(str::to_string));
        Case {
            tcpstat: t,
            oracle: Oracle::Ss(ss),
            expect: Expect::Some,
        }
    }

    /// `tcpstat -tan ARGS` against the rows of an unfiltered ss listing
    /// that `keep` keeps; `what` says which, for failure messages.
    pub fn rows(tcpstat: &[&str], what: String, keep: impl Fn(&Row) -> bool + 'static) -> Case {
        let mut t = vec!["-tan".to_string()];
        t.extend(owned(tcpstat));
        Case {
            tcpstat: t,
            oracle: Oracle::Rows {
                what,
                keep: Box::new(keep),
            },
            expect: Expect::Some,
        }
    }

    /// Sets what the oracle's selection must contain.
    pub fn expect(mut self, expect: Expect) -> Case {
        self.expect = expect;
        self
    }
}

/// Runs every case in both namespaces and returns what went wrong, one
/// entry per failed case.
pub fn check_cases(zoo: &Zoo, cases: &[Case]) -> Vec<String> {
    let mut problems = Vec::new();
    for case in cases {
        let mut selected: Vec<Row> = Vec::new();
        let mut wrong = String::new();
        for side in [Side::A, Side::B] {
            let (rows, diffs) = take_until_agreed(zoo.lab.ns(side), side, case);
            for diff in diffs {
                let _ = writeln!(wrong, "  in namespace {side:?}: {diff}");
            }
            selected.extend(rows);
        }
        if let Some(vacuous) = vacuous(case, &selected) {
            let _ = writeln!(wrong, "  {vacuous}");
        }
        if !wrong.is_empty() {
            problems.push(format!(
                "case `tcpstat {}` against `{}`:\n{wrong}",
                shell_words(&case.tcpstat),
                case.oracle
            ));
        }
    }
    problems
}

/// Takes a case in one namespace until tcpstat agrees with the oracle, at
/// most [`ATTEMPTS`] times; returns the last reading. Retakes are said on
/// stderr, so a flaky case shows even when it passes.
fn take_until_agreed(ns: &Netns, side: Side, case: &Case) -> (Vec<Row>, Vec<String>) {
    let mut attempt = 1;
    loop {
        let (rows, diffs) = take(ns, case);
        if diffs.is_empty() || attempt == ATTEMPTS {
            return (rows, diffs);
        }
        eprintln!(
            "retaking `tcpstat {}` in {side:?} after:\n{}",
            shell_words(&case.tcpstat),
            diffs.join("\n")
        );
        attempt += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One reading of a case in one namespace: the oracle's rows, and how
/// each tcpstat source differs from them.
fn take(ns: &Netns, case: &Case) -> (Vec<Row>, Vec<String>) {
    let expected = oracle_rows(ns, &case.oracle);
    let want = listing(&expected);
    let mut diffs = Vec::new();
    for (view, source) in [(View::Netlink, "netlink"), (View::Proc, "proc")] {
        let mut args = vec!["--json".to_string()];
        args.extend(case.tcpstat.iter().cloned());
        args.extend(["--source".to_string(), source.to_string()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ns.exec(tcpstat_bin(), &argv);
        let command = format!("tcpstat {}", shell_words(&args));
        if !out.status.success() {
            diffs.push(format!(
                "`{command}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
            continue;
        }
        let text = String::from_utf8(out.stdout).expect("tcpstat prints UTF-8");
        let got = listing(&parse_tcpstat_json(&text, view));
        if got != want {
            diffs.push(format!("`{command}`{}", difference(&want, &got)));
        }
    }
    (expected, diffs)
}

/// The rows the oracle selects.
fn oracle_rows(ns: &Netns, oracle: &Oracle) -> Vec<Row> {
    match oracle {
        Oracle::Ss(args) => {
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            ss_rows(ns, &argv)
        }
        Oracle::Rows { keep, .. } => parse_ss(&ns.stdout("ss", &["-tanepH"]))
            .into_iter()
            .filter(|r| keep(r))
            .collect(),
    }
}

/// Runs ss and parses its rows. ss leaves out the State column when the
/// filter selects a single state; such rows get their state from an
/// unfiltered listing taken right after (a socket that changed state in
/// between shows as `?` and makes the case retake).
fn ss_rows(ns: &Netns, args: &[&str]) -> Vec<Row> {
    let text = ns.stdout("ss", args);
    let stateless = |line: &str| {
        line.split_whitespace()
            .next()
            .is_some_and(|first| first.parse::<u64>().is_ok())
    };
    if !text.lines().any(stateless) {
        return parse_ss(&text);
    }
    let states: BTreeMap<Key, String> = parse_ss(&ns.stdout("ss", &["-tanH"]))
        .into_iter()
        .map(|r| (r.key(), r.state))
        .collect();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            // Any state name will do to parse the rest of the row.
            let mut row = parse_ss(&format!("UNCONN {line}")).remove(0);
            row.state = states.get(&row.key()).cloned().unwrap_or("?".into());
            row.raw = line.to_string();
            row
        })
        .collect()
}

fn listing(rows: &[Row]) -> Listing {
    let mut sockets = Listing::new();
    for row in rows {
        *sockets.entry((row.key(), row.state.clone())).or_default() += 1;
    }
    sockets
}

/// The sockets missing from `got` and those it has in excess, one line
/// each.
fn difference(want: &Listing, got: &Listing) -> String {
    let sockets: BTreeSet<_> = want.keys().chain(got.keys()).collect();
    let lines: Vec<String> = sockets
        .into_iter()
        .filter_map(|socket| {
            let w = want.get(socket).copied().unwrap_or(0);
            let g = got.get(socket).copied().unwrap_or(0);
            let ((local, remote), state) = socket;
            let what = if g < w { "missing" } else { "extra  " };
            let times = if w.max(g) > 1 {
                format!(" (listed {g} times, not {w})")
            } else {
                String::new()
            };
            (w != g).then(|| format!("\n      {what} {state:<11} {local} -> {remote}{times}"))
        })
        .collect();
    let mut text: String = lines.iter().take(MAX_LINES).map(String::as_str).collect();
    if lines.len() > MAX_LINES {
        let _ = write!(text, "\n      … and {} more", lines.len() - MAX_LINES);
    }
    text
}

/// Why a case proves nothing, if it does not.
fn vacuous(case: &Case, selected: &[Row]) -> Option<String> {
    match case.expect {
        Expect::Some if selected.is_empty() => {
            Some("the oracle selects no socket of the zoo: the case proves nothing".into())
        }
        Expect::Nothing if !selected.is_empty() => Some(format!(
            "the oracle was expected to select nothing, but selects:\n{}",
            raw_lines(selected)
        )),
        Expect::Including(what, f) if !selected.iter().any(f) => Some(format!(
            "the oracle should select {what}; it selects:\n{}",
            raw_lines(selected)
        )),
        _ => None,
    }
}

fn raw_lines(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| format!("      {}", r.raw.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The words as a shell would need them typed.
pub fn shell_words(words: &[String]) -> String {
    let plain = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=+@%".contains(c))
    };
    words
        .iter()
        .map(|w| {
            if plain(w) {
                w.clone()
            } else {
                format!("'{w}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
