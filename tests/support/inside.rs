//! The oracle of `-i`/`-m`: `ss -tmi -nH` parsed into one map of words per
//! socket, and its comparison with the `info`/`memory` objects of
//! `tcpstat --json`. Every word ss prints must be known here, so a field
//! ss shows that tcpstat lacks fails the test instead of passing unseen.

use std::collections::BTreeMap;

use serde_json::Value;

use super::oracle::{parse_ss, Key};

/// ss's continuation line of one socket: `word` → value (`""` for a bare
/// flag such as `app_limited`); the algorithm's name under `cong`; skmem
/// parts as `skmem.r`, `skmem.rb`…
pub type SsWords = BTreeMap<String, String>;

/// Parses `ss -tmi -nH` output: each socket's line, then its continuation
/// line (which starts with a tab).
pub fn parse_ss_inside(text: &str) -> BTreeMap<Key, SsWords> {
    let mut out = BTreeMap::new();
    let mut current: Option<Key> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with('\t') || line.starts_with(' ') {
            let key = current.expect("continuation line before a socket line");
            out.insert(key, parse_words(line));
        } else {
            current = Some(parse_ss(line)[0].key());
        }
    }
    out
}

/// Words ss prints as bare flags (with -e/-o: the options).
const FLAGS: [&str; 7] = [
    "ts",
    "usec_ts",
    "sack",
    "ecn",
    "ecnseen",
    "fastopen",
    "app_limited",
];
/// Words followed by their value after a space.
const SPACED: [&str; 3] = ["send", "pacing_rate", "delivery_rate"];

fn parse_words(line: &str) -> SsWords {
    let mut words = SsWords::new();
    let mut tokens = line.split_whitespace();
    while let Some(token) = tokens.next() {
        if SPACED.contains(&token) {
            let value = tokens
                .next()
                .unwrap_or_else(|| panic!("{token} alone: {line}"));
            words.insert(token.to_string(), value.to_string());
        } else if let Some(inner) = token.strip_prefix("skmem:(") {
            for part in inner.trim_end_matches(')').split(',') {
                let split = part
                    .find(|c: char| c.is_ascii_digit())
                    .unwrap_or(part.len());
                let (name, value) = part.split_at(split);
                words.insert(format!("skmem.{name}"), value.to_string());
            }
        } else if let Some((word, value)) = token.split_once(':') {
            words.insert(word.to_string(), value.to_string());
        } else if FLAGS.contains(&token) {
            words.insert(token.to_string(), String::new());
        } else {
            assert!(!words.contains_key("cong"), "two bare words: {line}");
            words.insert("cong".to_string(), token.to_string());
        }
    }
    words
}

/// Fields that do not move on an idle connection: ss word → tcpstat's key
/// in `info` (or `memory` for `skmem.*`). ss leaves each out at 0.
const EXACT: [(&str, &str); 31] = [
    ("mss", "snd_mss"),
    ("pmtu", "pmtu"),
    ("rcvmss", "rcv_mss"),
    ("advmss", "advmss"),
    ("cwnd", "snd_cwnd"),
    ("ssthresh", "snd_ssthresh"),
    ("backoff", "backoff"),
    ("bytes_sent", "bytes_sent"),
    ("bytes_retrans", "bytes_retrans"),
    ("bytes_acked", "bytes_acked"),
    ("bytes_received", "bytes_received"),
    ("segs_out", "segs_out"),
    ("segs_in", "segs_in"),
    ("data_segs_out", "data_segs_out"),
    ("data_segs_in", "data_segs_in"),
    ("delivered", "delivered"),
    ("delivered_ce", "delivered_ce"),
    ("unacked", "unacked"),
    ("lost", "lost"),
    ("sacked", "sacked"),
    ("dsack_dups", "dsack_dups"),
    ("fackets", "fackets"),
    ("reord_seen", "reord_seen"),
    ("rcv_space", "rcv_space"),
    ("rcv_ssthresh", "rcv_ssthresh"),
    ("notsent", "notsent_bytes"),
    ("rcv_ooopack", "rcv_ooopack"),
    ("snd_wnd", "snd_wnd"),
    ("rcv_wnd", "rcv_wnd"),
    ("rehash", "rehash"),
    ("reordering", "reordering"),
];

/// Fields an older ss (iproute2 before 6.3, whose tcp_info lacks them)
/// never prints: their absence from its line says nothing.
const NEWER_THAN_SS: [&str; 2] = ["rcv_wnd", "rehash"];

/// skmem letters → tcpstat's `memory` keys.
const SKMEM: [(&str, &str); 9] = [
    ("r", "rmem_alloc_bytes"),
    ("rb", "rcvbuf_bytes"),
    ("t", "wmem_alloc_bytes"),
    ("tb", "sndbuf_bytes"),
    ("f", "fwd_alloc_bytes"),
    ("w", "wmem_queued_bytes"),
    ("o", "optmem_bytes"),
    ("bl", "backlog_bytes"),
    ("d", "drops"),
];

/// Times in ms as ss prints them (`%g` of µs / 1000) → tcpstat's µs key.
const TIMES: [(&str, &str); 4] = [
    ("rto", "rto_us"),
    ("ato", "ato_us"),
    ("rcv_rtt", "rcv_rtt_us"),
    ("minrtt", "min_rtt_us"),
];

/// Ages in ms → tcpstat's key; they grow between the two reads.
const AGES: [(&str, &str); 3] = [
    ("lastsnd", "last_data_sent_ms"),
    ("lastrcv", "last_data_recv_ms"),
    ("lastack", "last_ack_recv_ms"),
];

/// Rates in bits/s (ss -n: `%.0f`) → tcpstat's `_bps` key.
const RATES: [(&str, &str); 3] = [
    ("send", "send_rate_bps"),
    ("pacing_rate", "pacing_rate_bps"),
    ("delivery_rate", "delivery_rate_bps"),
];

/// What differs between ss's words and tcpstat's socket object: exact
/// fields must be equal, times within `drift` (relative) or 1 ms, ages
/// within `elapsed_ms` (the time between the two reads) plus 20 ms.
pub fn inside_mismatches(ss: &SsWords, socket: &Value, elapsed_ms: u64, drift: f64) -> Vec<String> {
    let mut problems = Vec::new();
    let info = &socket["info"];
    let memory = &socket["memory"];
    let mut known: Vec<&str> = vec!["cong", "wscale", "rtt", "retrans", "bbr", "busy"];
    known.extend(FLAGS);
    let mut bad = |what: &str, ss_value: &str, ours: &Value| {
        problems.push(format!("{what}: ss {ss_value:?}, tcpstat {ours}"));
    };
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    for (word, key) in EXACT {
        known.push(word);
        let ours = num(&info[key]);
        match ss.get(word) {
            Some(v) if v.parse::<u64>().ok() != Some(ours) => bad(word, v, &info[key]),
            // ss prints reordering unless 3, everything else unless 0.
            None if word == "reordering" && ours != 3 => bad(word, "3", &info[key]),
            None if word != "reordering" && ours != 0 && !NEWER_THAN_SS.contains(&word) => {
                bad(word, "(absent: 0)", &info[key])
            }
            _ => {}
        }
    }
    for (letter, key) in SKMEM {
        let word = format!("skmem.{letter}");
        match ss.get(&word) {
            Some(v) if v.parse::<u64>().ok() != memory[key].as_u64() => bad(&word, v, &memory[key]),
            None if !memory[key].is_null() && ss.contains_key("skmem.r") => {
                bad(&word, "(absent)", &memory[key])
            }
            _ => {}
        }
    }
    if ss.contains_key("skmem.r") {
        known.extend(SKMEM.iter().map(|(l, _)| *l));
    }
    if ss.get("cong").map(String::as_str) != info["congestion"].as_str() {
        bad(
            "congestion",
            &format!("{:?}", ss.get("cong")),
            &info["congestion"],
        );
    }
    let wscale = format!("{},{}", info["snd_wscale"], info["rcv_wscale"]);
    if let Some(v) = ss.get("wscale").filter(|v| **v != wscale) {
        bad("wscale", v, &Value::String(wscale));
    }
    let retrans = format!("{}/{}", num(&info["retrans"]), num(&info["total_retrans"]));
    match ss.get("retrans") {
        Some(v) if *v != retrans => bad("retrans", v, &Value::String(retrans)),
        None if retrans != "0/0" => bad("retrans", "(absent)", &Value::String(retrans)),
        _ => {}
    }
    if ss.contains_key("app_limited") != (info["app_limited"] == true) {
        bad(
            "app_limited",
            &format!("{:?}", ss.get("app_limited")),
            &info["app_limited"],
        );
    }
    let close = |ss_ms: f64, ours_ms: f64, slack: f64| {
        (ss_ms - ours_ms).abs() <= (ss_ms.abs() * drift).max(slack)
    };
    if let Some(v) = ss.get("rtt") {
        let (rtt, var) = v.split_once('/').expect("rtt:a/b");
        for (text, key) in [(rtt, "rtt_us"), (var, "rttvar_us")] {
            let ours = num(&info[key]) as f64 / 1000.0;
            if !close(text.parse().unwrap(), ours, 1.0) {
                bad(key, text, &info[key]);
            }
        }
    }
    for (word, key) in TIMES {
        known.push(word);
        if let Some(v) = ss.get(word) {
            if !close(v.parse().unwrap(), num(&info[key]) as f64 / 1000.0, 1.0) {
                bad(word, v, &info[key]);
            }
        }
    }
    for (word, key) in AGES {
        known.push(word);
        if let Some(v) = ss.get(word) {
            let slack = elapsed_ms as f64 + 20.0;
            if !close(v.parse().unwrap(), num(&info[key]) as f64, slack) {
                bad(word, v, &info[key]);
            }
        }
    }
    for (word, key) in RATES {
        known.push(word);
        if let Some(v) = ss.get(word) {
            let ss_bps: f64 = v
                .trim_end_matches("bps")
                .split('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            if !close(ss_bps, num(&info[key]) as f64, 1.0) {
                bad(word, v, &info[key]);
            }
        }
    }
    if let Some(v) = ss.get("busy") {
        let ms: f64 = v.trim_end_matches("ms").parse().unwrap();
        if !close(ms, (num(&info["busy_time_us"]) / 1000) as f64, 20.0) {
            bad("busy", v, &info["busy_time_us"]);
        }
    }
    for (word, key) in [
        ("rwnd_limited", "rwnd_limited_us"),
        ("sndbuf_limited", "sndbuf_limited_us"),
    ] {
        known.push(word);
        if let Some(v) = ss.get(word) {
            let ms: f64 = v.split("ms").next().unwrap().parse().unwrap();
            if !close(ms, (num(&info[key]) / 1000) as f64, 20.0) {
                bad(word, v, &info[key]);
            }
        }
    }
    if let Some(v) = ss.get("bbr") {
        let bw = v.trim_start_matches("(bw:").split("bps").next().unwrap();
        let bbr = &info["bbr"];
        if !close(bw.parse().unwrap(), num(&bbr["bw_bps"]) as f64, 1.0) {
            bad("bbr bw", v, bbr);
        }
    }
    for word in ss.keys() {
        let word = word.strip_prefix("skmem.").unwrap_or(word);
        if !known.contains(&word) {
            problems.push(format!(
                "ss prints {word:?}, which this test does not compare"
            ));
        }
    }
    problems
}
