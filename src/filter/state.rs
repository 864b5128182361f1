//! State names and groups, for `--state LIST` and the expression's
//! `state`/`exclude` clauses, as [`StateSet`]s.
//!
//! Names are matched case-insensitively with `-` and `_` ignored, so
//! netstat's `TIME_WAIT`/`FIN_WAIT1` and ss's `time-wait`/`fin-wait-1` all
//! work. The groups are ss's (`ss(8)`, `scan_state` in iproute2's ss.c):
//! `all`, `connected` (all but LISTEN and CLOSE), `synchronized` (connected
//! but SYN_SENT), `bucket` (SYN_RECV and TIME_WAIT, the mini-sockets) and
//! `big` (all but bucket); `teardown` is tcpstat's own.

use crate::model::{StateSet, TcpState};

/// The state names, in ss's spelling, then the groups: what `--state`
/// completes to and what its errors list.
pub const STATE_NAMES: [&str; 17] = [
    "established",
    "syn-sent",
    "syn-recv",
    "fin-wait-1",
    "fin-wait-2",
    "time-wait",
    "close",
    "close-wait",
    "last-ack",
    "listen",
    "closing",
    "all",
    "connected",
    "synchronized",
    "bucket",
    "big",
    "teardown",
];

/// The states a state or group name stands for; `None` if unknown.
pub fn states_of(name: &str) -> Option<StateSet> {
    use TcpState::*;
    let key: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    let bit = StateSet::of;
    let connected = StateSet::ALL.without(bit(Close).union(bit(Listen)));
    let bucket = bit(SynRecv).union(bit(TimeWait));
    let set = match key.as_str() {
        "established" | "estab" => bit(Established),
        "synsent" => bit(SynSent),
        "synrecv" | "synrcv" => bit(SynRecv),
        "finwait1" => bit(FinWait1),
        "finwait2" => bit(FinWait2),
        "timewait" => bit(TimeWait),
        "close" | "closed" | "unconnected" | "unconn" => bit(Close),
        "closewait" => bit(CloseWait),
        "lastack" => bit(LastAck),
        "listen" | "listening" => bit(Listen),
        "closing" => bit(Closing),
        "all" => StateSet::ALL,
        "connected" => connected,
        "synchronized" => connected.without(bit(SynSent)),
        "bucket" => bucket,
        "big" => StateSet::ALL.without(bucket),
        "teardown" => [FinWait1, FinWait2, Closing, LastAck, TimeWait, CloseWait]
            .into_iter()
            .collect(),
        _ => return None,
    };
    Some(set)
}

/// Parses a `--state` value: comma-separated state or group names, joined.
/// Usable as clap's `value_parser`.
pub fn parse_states(list: &str) -> Result<StateSet, String> {
    if list.trim().is_empty() {
        return Err("empty state list".to_string());
    }
    list.split(',')
        .map(str::trim)
        .try_fold(StateSet::EMPTY, |set, name| {
            if name.is_empty() {
                return Err(format!("empty item in state list {list:?}"));
            }
            states_of(name).map(|s| set.union(s)).ok_or_else(|| {
                format!(
                    "unknown state {name:?} (states: established, syn-sent, syn-recv, \
                 fin-wait-1, fin-wait-2, time-wait, close, close-wait, last-ack, listen, \
                 closing; groups: all, connected, synchronized, bucket, big, teardown)"
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcpState::*;

    fn mask(states: &[TcpState]) -> StateSet {
        states.iter().copied().collect()
    }

    #[test]
    fn netstat_and_ss_spellings() {
        for (names, state) in [
            (&["TIME_WAIT", "time-wait", "TimeWait"][..], TimeWait),
            (&["FIN_WAIT1", "fin-wait-1", "fin_wait_1"], FinWait1),
            (&["FIN_WAIT2", "fin-wait-2"], FinWait2),
            (&["established", "ESTABLISHED", "estab"], Established),
            (&["listening", "listen", "LISTEN"], Listen),
            (&["syn-recv", "syn_recv", "SYN_RECV", "syn-rcv"], SynRecv),
            (&["syn-sent", "SYN_SENT"], SynSent),
            (&["close-wait", "CLOSE_WAIT"], CloseWait),
            (&["last-ack", "LAST_ACK"], LastAck),
            (&["closing", "CLOSING"], Closing),
            (&["close", "closed", "CLOSE", "unconnected"], Close),
        ] {
            for name in names {
                assert_eq!(states_of(name), Some(StateSet::of(state)), "{name}");
            }
        }
    }

    #[test]
    fn groups_match_ss() {
        let all = StateSet::ALL;
        let connected = all.without(mask(&[Listen, Close]));
        assert_eq!(states_of("all"), Some(all));
        assert_eq!(states_of("connected"), Some(connected));
        assert_eq!(
            states_of("synchronized"),
            Some(connected.without(StateSet::of(SynSent)))
        );
        assert_eq!(states_of("bucket"), Some(mask(&[SynRecv, TimeWait])));
        assert_eq!(
            states_of("big"),
            Some(all.without(mask(&[SynRecv, TimeWait])))
        );
        assert_eq!(
            states_of("teardown"),
            Some(mask(&[
                FinWait1, FinWait2, Closing, LastAck, TimeWait, CloseWait
            ]))
        );
    }

    #[test]
    fn every_listed_name_is_known() {
        for name in STATE_NAMES {
            assert!(states_of(name).is_some_and(|s| !s.is_empty()), "{name}");
        }
    }

    #[test]
    fn lists_are_unions() {
        assert_eq!(
            parse_states("established,TIME_WAIT"),
            Ok(mask(&[Established, TimeWait]))
        );
        assert_eq!(
            parse_states(" listen , bucket "),
            Ok(mask(&[Listen, SynRecv, TimeWait]))
        );
    }

    #[test]
    fn errors_name_the_bad_token() {
        let err = parse_states("established,tme-wait").unwrap_err();
        assert!(err.starts_with("unknown state \"tme-wait\""), "{err}");
        assert!(parse_states("listen,,closing")
            .unwrap_err()
            .contains("\"listen,,closing\""));
        assert_eq!(parse_states("").unwrap_err(), "empty state list");
        assert!(parse_states("established,").is_err());
    }
}
