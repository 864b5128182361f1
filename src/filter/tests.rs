//! Tests of the expression language (grouping, forms, evaluation, errors
//! with their positions) and of the combined [`Filter`].

use super::test_support::{sock, sock_in};
use super::*;
use crate::model::StateSet;
use crate::model::TcpState::{self, *};
use std::collections::HashMap;

fn query(text: &str) -> Query {
    parse_expression(&[text]).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// How an expression was grouped, fully parenthesised.
fn grouping(text: &str) -> String {
    query(text).expr.expect("an expression").to_string()
}

fn keeps(text: &str, s: &crate::model::Socket) -> bool {
    query(text).expr.expect("an expression").matches(s)
}

fn mask(states: &[TcpState]) -> StateSet {
    states.iter().copied().collect()
}

#[test]
fn and_or_and_juxtaposition_share_one_precedence_from_the_left() {
    assert_eq!(
        grouping("sport = :1 or sport = :2 and sport = :3"),
        "((sport = :1 or sport = :2) and sport = :3)"
    );
    assert_eq!(
        grouping("sport = :1 and sport = :2 or sport = :3"),
        "((sport = :1 and sport = :2) or sport = :3)"
    );
    assert_eq!(
        grouping("sport :1 || sport :2 dport :3"),
        "((sport = :1 or sport = :2) and dport = :3)"
    );
    assert_eq!(grouping("sport :1 dport :2"), "(sport = :1 and dport = :2)");
}

#[test]
fn not_binds_to_one_operand_and_parentheses_group() {
    assert_eq!(
        grouping("not sport :1 and dport :2"),
        "(not sport = :1 and dport = :2)"
    );
    assert_eq!(grouping("! ! sport :1"), "not not sport = :1");
    assert_eq!(
        grouping("!(sport :1 or sport :2)"),
        "not (sport = :1 or sport = :2)"
    );
    assert_eq!(
        grouping("sport :1 or (sport :2 and dport :3)"),
        "(sport = :1 or (sport = :2 and dport = :3))"
    );
    assert_eq!(grouping("((sport :1))"), "sport = :1");
}

#[test]
fn operator_spellings() {
    for (ops, canon) in [
        (&["=", "==", "eq"][..], "="),
        (&["!=", "ne", "neq"], "!="),
        (&["<", "lt"], "<"),
        (&["<=", "le", "leq"], "<="),
        (&[">", "gt"], ">"),
        (&[">=", "ge", "geq"], ">="),
    ] {
        for op in ops {
            assert_eq!(
                grouping(&format!("dport {op} :80")),
                format!("dport {canon} :80")
            );
        }
    }
    for and in ["and", "&&", "&"] {
        assert_eq!(
            grouping(&format!("sport :1 {and} sport :2")),
            "(sport = :1 and sport = :2)"
        );
    }
    for or in ["or", "||", "|"] {
        assert_eq!(
            grouping(&format!("sport :1 {or} sport :2")),
            "(sport = :1 or sport = :2)"
        );
    }
}

#[test]
fn port_operand_forms() {
    assert_eq!(grouping("sport = :22"), "sport = :22");
    assert_eq!(grouping("sport 22"), "sport = :22");
    assert_eq!(grouping("dport :0"), "dport = :0");
    assert_eq!(grouping("sport = *"), "src *");
    assert_eq!(grouping("sport :*"), "src *");
    assert_eq!(grouping("sport != *"), "not src *");
}

#[test]
fn service_names_as_in_ss() {
    // Needs netbase's /etc/services, as ss does.
    if crate::names::services::service_port("ssh") != Some(22) {
        return;
    }
    assert_eq!(
        grouping("( dport = :ssh or sport = :ssh )"),
        "(dport = :22 or sport = :22)"
    );
    assert_eq!(grouping("dst 10.0.0.1:https"), "dst 10.0.0.1:443");
}

#[test]
fn host_operand_forms() {
    for (input, shown) in [
        ("src 10.0.0.1", "src 10.0.0.1"),
        ("src = 10.0.0.9/8", "src 10.0.0.0/8"),
        ("src == 10.0.0.1:80", "src 10.0.0.1:80"),
        ("dst 10.0.0.0/8:80", "dst 10.0.0.0/8:80"),
        ("dst 10.0.0.1:*", "dst 10.0.0.1"),
        ("dst [::1]:443", "dst [::1]:443"),
        ("dst [2001:db8::/32]:443", "dst [2001:db8::/32]:443"),
        ("dst [::1]", "dst [::1]"),
        ("dst ::1", "dst [::1]"),
        ("dst fe80::/10", "dst [fe80::/10]"),
        ("dst ::ffff:10.0.0.1", "dst 10.0.0.1"),
        ("src *:22", "src *:22"),
        ("src :22", "src *:22"),
        ("src *", "src *"),
        ("src *:*", "src *"),
        ("src != 10.0.0.1", "not src 10.0.0.1"),
    ] {
        assert_eq!(grouping(input), shown, "{input}");
    }
}

#[test]
fn state_clauses_add_and_exclude_like_ss() {
    let q = query("state established state time-wait");
    assert_eq!(q.states, Some(mask(&[Established, TimeWait])));
    assert_eq!(q.expr, None);
    assert_eq!(
        query("exclude listening").states,
        Some(StateSet::ALL.without(StateSet::of(Listen)))
    );
    assert_eq!(
        query("state connected excl time-wait").states,
        states_of("connected").map(|m| m.without(StateSet::of(TimeWait)))
    );
    let q = parse_expression(&["state", "TIME_WAIT", "( dport = :5432 )"]).unwrap();
    assert_eq!(q.states, Some(StateSet::of(TimeWait)));
    assert_eq!(q.expr.unwrap().to_string(), "dport = :5432");
    assert_eq!(parse_expression::<&str>(&[]).unwrap(), Query::default());
    assert_eq!(parse_expression(&["", "  "]).unwrap(), Query::default());
}

#[test]
fn evaluation_on_sockets() {
    let ssh = sock("10.0.0.1:22", "10.0.0.2:50000");
    let web6 = sock("[2001:db8::1]:443", "[2001:db8::2]:40000");
    assert!(keeps("( sport = :22 or dport = :22 )", &ssh));
    assert!(!keeps("( sport = :22 or dport = :22 )", &web6));
    assert!(keeps("sport < :1024 and dport > :1023", &ssh));
    assert!(keeps("sport :443 dst 2001:db8::/64", &web6));
    assert!(!keeps("sport :443 dst 10.0.0.0/8", &web6));
    assert!(keeps("not dst 10.0.0.0/8", &web6));
    // ss's grouping: (ssh or web6-port) and dst 10/8 → only ssh.
    let text = "sport :22 or sport :443 and dst 10.0.0.0/8";
    assert!(keeps(text, &ssh) && !keeps(text, &web6));
}

#[test]
fn mapped_addresses_match_their_ipv4_form() {
    let mapped = sock("[::ffff:127.0.0.1]:8443", "[::ffff:127.0.0.1]:51000");
    assert!(keeps("src 127.0.0.1", &mapped));
    assert!(keeps("dst 127.0.0.0/8:51000", &mapped));
    assert!(keeps("src ::ffff:127.0.0.1", &mapped));
    assert!(keeps("src ::/0", &mapped), "still an IPv6 socket");
    let plain = sock("127.0.0.1:8443", "127.0.0.1:51000");
    assert!(keeps("src ::ffff:127.0.0.1", &plain));
    assert!(!keeps("src ::/0", &plain));
}

/// `(words, kind, token, position)` for one malformed input.
type Case = (
    &'static [&'static str],
    ExprErrorKind,
    &'static str,
    Position,
);

fn at(word: usize, column: Option<usize>) -> Position {
    Position::Word { word, column }
}

#[test]
fn every_error_kind_names_its_token_and_position() {
    use ExprErrorKind as K;
    let port_reason = "above 65535".to_string();
    let cases: Vec<Case> = vec![
        (
            &["state", "tme-wait"],
            K::UnknownState,
            "tme-wait",
            at(2, None),
        ),
        (
            &["sport", "=", ":70000"],
            K::BadPort(port_reason),
            ":70000",
            at(3, None),
        ),
        (
            &["dst", "10.0.0.0/33"],
            K::BadPrefix("prefix length 33 is above 32 for IPv4".into()),
            "10.0.0.0/33",
            at(2, None),
        ),
        (&["(", "sport", ":22"], K::UnclosedParen, "(", at(1, None)),
        (&["x", "(sport :22"], K::UnknownKeyword, "x", at(1, None)),
        (&["(sport :22"], K::UnclosedParen, "(", at(1, Some(1))),
        (&["sport :22 )"], K::UnopenedParen, ")", at(1, Some(11))),
        (&["( sport :22 ) )"], K::UnopenedParen, ")", at(1, Some(15))),
        (&["sprot", ":22"], K::UnknownKeyword, "sprot", at(1, None)),
        (&["sport"], K::MissingOperand, "sport", at(1, None)),
        (&["sport", "="], K::MissingOperand, "=", at(2, None)),
        (
            &["dst", "and", "sport", ":1"],
            K::MissingOperand,
            "dst",
            at(1, None),
        ),
        (&["state"], K::MissingOperand, "state", at(1, None)),
        (
            &["sport :22 and"],
            K::TrailingOperator,
            "and",
            at(1, Some(11)),
        ),
        (&["not"], K::TrailingOperator, "not", at(1, None)),
        (
            &["( sport :22 or )"],
            K::TrailingOperator,
            "or",
            at(1, Some(13)),
        ),
        (
            &["and", "sport", ":22"],
            K::ExpectedPredicate,
            "and",
            at(1, None),
        ),
        (
            &["sport :1 or or dport :2"],
            K::ExpectedPredicate,
            "or",
            at(1, Some(13)),
        ),
        (&["( )"], K::ExpectedPredicate, ")", at(1, Some(3))),
        (&["src", "<", "1.2.3.4"], K::BadOperator, "<", at(2, None)),
        (
            &["sport", ":22", "state", "listen"],
            K::MisplacedState,
            "state",
            at(3, None),
        ),
        (&["dev", "eth0"], K::Unsupported, "dev", at(1, None)),
        (
            &["src", "inet:1.2.3.4"],
            K::Unsupported,
            "inet:1.2.3.4",
            at(2, None),
        ),
    ];
    for (words, kind, token, position) in cases {
        let e = parse_expression(words).expect_err(&words.join(" "));
        assert_eq!(
            (e.kind(), e.token(), e.position()),
            (&kind, token, position),
            "{words:?}: {e}"
        );
        let msg = e.to_string();
        assert!(msg.starts_with("filter: ") && !msg.contains('\n'), "{msg}");
        assert!(msg.contains(&format!("\"{token}\"")), "{msg}");
    }
}

#[test]
fn bad_operands_say_why() {
    for (text, needle) in [
        ("dst 1.2.3", "not an IPv4 or IPv6 address"),
        ("dst db.example.com", "names are not resolved"),
        ("dst [::1", "\"[\" without \"]\""),
        ("dst [::1]x", "only \":PORT\" may follow"),
        ("dst [::1/129]:80", "129 is above 128"),
        ("dst 1.2.3.4:", "no port after"),
        (
            "dst 1.2.3.4:htp",
            "port \"htp\" is neither a decimal number nor a tcp service",
        ),
        ("sport :sshh", "neither a decimal number nor a tcp service"),
        ("sport -1", "neither a decimal number"),
        ("sport 0x16", "neither a decimal number"),
        ("sport > *", "only compares with = or !="),
    ] {
        let e = parse_expression(&[text]).expect_err(text);
        assert!(e.to_string().contains(needle), "{text}: {e}");
    }
    let e = parse_expression(&["state", "tme-wait"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "filter: unknown state \"tme-wait\" at word 2"
    );
}

#[test]
fn nesting_and_length_are_bounded() {
    let deep = format!("{}sport :1{}", "( ".repeat(100), " )".repeat(100));
    let e = parse_expression(&[deep.as_str()]).unwrap_err();
    assert_eq!(e.kind(), &ExprErrorKind::TooComplex);
    let nots = "not ".repeat(100) + "sport :1";
    assert_eq!(
        parse_expression(&[nots.as_str()]).unwrap_err().kind(),
        &ExprErrorKind::TooComplex
    );
    let long = "sport :1 ".repeat(600);
    assert_eq!(
        parse_expression(&[long.as_str()]).unwrap_err().kind(),
        &ExprErrorKind::TooComplex
    );
    let fine = format!("{}sport :1{}", "(".repeat(60), ")".repeat(60));
    assert!(parse_expression(&[fine.as_str()]).is_ok());
}

/// Owners keyed by inode, standing in for a process scan.
struct FakeOwners(HashMap<u64, Vec<crate::model::Owner>>);

impl Owners for FakeOwners {
    fn owners_of(&self, inode: u64) -> &[crate::model::Owner] {
        self.0.get(&inode).map_or(&[], Vec::as_slice)
    }
}

fn owner(pid: u32, name: &str) -> crate::model::Owner {
    crate::model::Owner {
        pid,
        fd: 3,
        name: name.into(),
    }
}

#[test]
fn flags_combine_with_and_and_repeat_with_or() {
    let s = sock("[::ffff:10.0.0.1]:5432", "[::ffff:10.0.0.7]:40000");
    let f = |filter: Filter| filter.matches(&s, &NoOwners);
    let ports = |t: &str| parse_ports(t).unwrap();
    let net = |t: &str| parse_addr_prefix(t).unwrap();
    assert!(Filter::new().keeps_all() && f(Filter::new()));
    assert!(f(Filter::new().with_ports([ports("40000")])));
    assert!(f(
        Filter::new().with_sports([ports("80"), ports("5000-6000")])
    ));
    assert!(!f(Filter::new().with_dports([ports("5432")])));
    assert!(f(
        Filter::new().with_src([net("192.168.0.0/16"), net("10.0.0.0/8")])
    ));
    assert!(!f(Filter::new()
        .with_src([net("10.0.0.0/8")])
        .with_dst([net("10.0.0.8")])));
    assert!(f(Filter::new().with_uids([0, 1000])));
    assert!(!f(Filter::new().with_uids([0])));
    assert!(f(
        Filter::new().with_states(parse_states("established").unwrap())
    ));
    assert!(!f(
        Filter::new().with_states(parse_states("teardown").unwrap())
    ));
    let q = parse_expression(&["state", "connected", "dport > :1024"]).unwrap();
    assert!(f(Filter::new()
        .with_sports([ports("5432")])
        .with_query(q.clone())));
    assert!(!f(Filter::new().with_sports([ports("22")]).with_query(q)));
}

#[test]
fn state_masks_intersect() {
    let f = Filter::new()
        .with_states(parse_states("connected").unwrap())
        .with_query(parse_expression(&["state", "bucket"]).unwrap());
    assert_eq!(f.states(), mask(&[SynRecv, TimeWait]));
    assert_eq!(f.explicit_states(), Some(f.states()));
    assert_eq!(Filter::new().states(), StateSet::ALL);
    assert_eq!(Filter::new().explicit_states(), None);
    let tw = sock_in(TimeWait, "10.0.0.1:5432", "10.0.0.2:40000");
    let listen = sock_in(Listen, "0.0.0.0:5432", "0.0.0.0:0");
    assert!(f.matches(&tw, &NoOwners) && !f.matches(&listen, &NoOwners));
}

#[test]
fn pid_and_program_need_owners() {
    let s = sock("127.0.0.1:5432", "127.0.0.1:40000");
    let owners = FakeOwners(HashMap::from([(
        s.inode,
        vec![owner(10, "postgres"), owner(11, "pgbouncer-worke")],
    )]));
    let by_pid = Filter::new().with_pids([11]);
    assert!(by_pid.needs_owners() && !Filter::new().needs_owners());
    assert!(by_pid.matches(&s, &owners));
    assert!(!by_pid.matches(&s, &NoOwners));
    assert!(!Filter::new().with_pids([12]).matches(&s, &owners));
    let by_name = |n: &str| {
        Filter::new()
            .with_programs([n.to_string()])
            .matches(&s, &owners)
    };
    assert!(by_name("postgres") && !by_name("postgre") && !by_name("Postgres"));
    assert!(
        by_name("pgbouncer-worker"),
        "a long name matches its 15-byte comm"
    );
    let orphan = crate::model::Socket {
        inode: 0,
        ..s.clone()
    };
    assert!(!Filter::new()
        .with_programs(["postgres".into()])
        .matches(&orphan, &owners));
}

#[test]
fn required_ports_come_from_flags() {
    let f = Filter::new()
        .with_sports([parse_ports("22").unwrap(), parse_ports("80").unwrap()])
        .with_query(parse_expression(&["dport :1"]).unwrap());
    assert_eq!(
        f.required_local_ports().map(ToString::to_string),
        Some("22,80".into())
    );
    assert_eq!(f.required_remote_ports(), None);
    assert_eq!(f.expr().map(ToString::to_string), Some("dport = :1".into()));
    assert!(!f.keeps_all());
}

#[test]
fn value_parsers_plug_into_clap() {
    let cmd = clap::Command::new("t")
        .arg(
            clap::Arg::new("port")
                .long("port")
                .value_parser(parse_ports),
        )
        .arg(
            clap::Arg::new("state")
                .long("state")
                .value_parser(parse_states),
        )
        .arg(
            clap::Arg::new("dst")
                .long("dst")
                .value_parser(parse_addr_prefix),
        );
    let m = cmd
        .clone()
        .try_get_matches_from([
            "t",
            "--port",
            "22,80",
            "--state",
            "TIME_WAIT",
            "--dst",
            "10.0.0.0/8",
        ])
        .unwrap();
    assert_eq!(m.get_one::<PortSet>("port").unwrap().to_string(), "22,80");
    assert_eq!(
        m.get_one::<StateSet>("state"),
        Some(&StateSet::of(TimeWait))
    );
    assert_eq!(
        m.get_one::<AddrPrefix>("dst").unwrap().to_string(),
        "10.0.0.0/8"
    );
    let err = cmd
        .try_get_matches_from(["t", "--port", "70000"])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid port \"70000\": above 65535"),
        "{err}"
    );
}

#[test]
fn netns_takes_a_name_or_an_inode_resolved_later() {
    assert_eq!(
        grouping("netns api sport = :80 or netns != net:[4026531840]"),
        "((netns api and sport = :80) or not netns net:[4026531840])"
    );
    let mut s = crate::filter::test_support::sock("10.0.0.1:80", "10.0.0.2:5000");
    s.netns = 4026531840;
    let mut filter = Filter::new().with_query(query("netns api or netns 4026531840"));
    assert!(filter.names_netns());
    assert!(filter.matches(&s, &NoOwners), "an inode is known at once");
    assert_eq!(
        filter.netns_bound(),
        Some(vec![4026531840]),
        "api is not resolved yet: it names none"
    );
    let mut asked = Vec::new();
    filter
        .resolve_netns(|word| {
            asked.push(word.to_string());
            Ok::<_, ()>(vec![7, 3])
        })
        .unwrap();
    assert_eq!(asked, ["api"], "the inode is not looked up");
    assert_eq!(filter.netns_bound(), Some(vec![3, 7, 4026531840]));
    s.netns = 7;
    assert!(filter.matches(&s, &NoOwners));
    s.netns = 8;
    assert!(!filter.matches(&s, &NoOwners));
    let refused = Filter::new()
        .with_query(query("netns nope"))
        .resolve_netns(|w| Err::<Vec<u64>, _>(w.to_string()));
    assert_eq!(refused, Err("nope".to_string()));
    for bad in ["netns", "netns >= x", "netns ( x )"] {
        assert!(parse_expression(&[bad]).is_err(), "{bad}");
    }
}
