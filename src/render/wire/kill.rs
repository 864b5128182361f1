//! `-K --json`: the [`Report`] as one object (`#/$defs/kill` in the
//! schema): each socket closed (or to be closed, in a dry run) with its
//! result, and each matching socket left open with the reason.

use std::borrow::Cow;

use serde::Serialize;

use super::{printable, JsonSocket};
use crate::diagnose::kill::{LeftOpen, Report, Target};
use crate::netns::label::Labels;
use crate::owners::ProcessMap;

/// What `-K` did with the sockets it matched.
#[derive(Debug, Serialize)]
pub struct JsonKill<'a> {
    /// True for `--dry-run`: nothing was closed, every `result` is null.
    pub dry_run: bool,
    /// The sockets in the states `-K` closes, with the kernel's answer.
    pub sockets: Vec<JsonKilled<'a>>,
    /// Matching sockets in states `-K` leaves alone unless they are named.
    pub left_open: Vec<JsonLeftOpen<'a>>,
}

/// One socket `-K` closed, or tried or would close.
#[derive(Debug, Serialize)]
pub struct JsonKilled<'a> {
    /// The socket as dumped, as a listing's object.
    pub socket: JsonSocket<'a>,
    /// `closed`, `gone`, `not_supported`, `permission_denied` or `error`;
    /// null in a dry run, or when a refusal stopped the run before it.
    pub result: Option<&'static str>,
    /// The errno SOCK_DESTROY answered (0 when closed); null with `result`.
    pub errno: Option<i32>,
    /// What helps instead, when the kernel did not close it; else null.
    pub help: Option<Cow<'a, str>>,
}

/// A matching socket `-K` did not touch.
#[derive(Debug, Serialize)]
pub struct JsonLeftOpen<'a> {
    /// The socket as dumped.
    pub socket: JsonSocket<'a>,
    /// Why it was left open, and what helps instead.
    pub reason: Cow<'a, str>,
}

impl<'a> JsonKill<'a> {
    /// The wire form of `report`, owners shown from `owners`, and with
    /// `-N all` each socket's `netns` from `netns`.
    pub fn new(
        report: &'a Report<'a>,
        owners: Option<&'a ProcessMap>,
        netns: Option<&'a Labels>,
    ) -> JsonKill<'a> {
        let socket = |s| JsonSocket::new(s, owners).in_netns(s, netns);
        JsonKill {
            dry_run: report.dry_run,
            sockets: report
                .targets
                .iter()
                .map(|t| killed(t, socket(t.socket)))
                .collect(),
            left_open: report
                .left_open
                .iter()
                .map(|l| left_open(l, socket(l.socket)))
                .collect(),
        }
    }
}

fn killed<'a>(t: &'a Target<'a>, socket: JsonSocket<'a>) -> JsonKilled<'a> {
    JsonKilled {
        socket,
        result: t.outcome.map(|o| o.result.name()),
        errno: t.outcome.map(|o| o.errno),
        help: t.help.as_deref().map(printable),
    }
}

fn left_open<'a>(l: &'a LeftOpen<'a>, socket: JsonSocket<'a>) -> JsonLeftOpen<'a> {
    JsonLeftOpen {
        socket,
        reason: printable(&l.reason),
    }
}
