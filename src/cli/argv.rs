//! `-c [SECS]`: the one flag whose value is optional, and the pre-pass over
//! argv that lets it take one the way netstat users type it.
//!
//! Trailing words are a filter expression (`tcpstat -c state established`),
//! so clap cannot be allowed to take the word after `-c` as its value: an
//! optional value would swallow `state`. clap is told that `--continuous`
//! takes its value only as `--continuous=SECS`; before clap runs,
//! [`normalize_continuous`] rewrites what people type into that form:
//! `-c 2`, `-c2`, `-c0.5`, `-anpoc 2`, `-canp`, `--continuous 2`. Only a
//! word that looks like a number is taken as the value, so
//! `-c state established` keeps its expression; a word that starts like
//! one (a digit or a dot: `-c 1e9`, `-c 2s`) but is not an interval is
//! taken too, so that it is refused as an interval rather than as an
//! unknown filter keyword (no expression starts with a digit or a dot).
//! Attached to `-c` (`-c4n`), only a plain number is its value, as the
//! rest may be more flags (`-4`). Which short flags take a
//! value of their own (`-N NAME`, where `-Nc` names namespace "c") is read
//! from the clap definition, so the pre-pass never disagrees with clap.

use std::ffi::{OsStr, OsString};
use std::iter::Peekable;
use std::time::Duration;

/// Long name of the flag.
pub const LONG: &str = "continuous";
/// Short name of the flag.
pub const SHORT: char = 'c';

/// Shortest interval accepted: a millisecond.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// Longest interval accepted: a day.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// `-c SECS` / `--continuous=SECS`: seconds between passes, decimal,
/// fractions allowed (`1`, `0.5`, `.25`), from a millisecond to a day.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    if !looks_like_interval(text) {
        return Err(format!("{text:?} is not a number of seconds (e.g. 1, 0.5)"));
    }
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    let interval = Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?;
    if interval < MIN_INTERVAL || interval > MAX_INTERVAL {
        return Err(format!(
            "{text} is out of range (0.001 to {} seconds)",
            MAX_INTERVAL.as_secs()
        ));
    }
    Ok(interval)
}

/// Digits with at most one dot: what `-c` may take as its value.
fn looks_like_interval(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let dots = text.bytes().filter(|&b| b == b'.').count();
    digits > 0 && dots <= 1 && digits + dots == text.len()
}

/// A digit or a dot first: a word after `-c` that was meant as its
/// value, to be checked as one by [`parse_interval`].
fn meant_as_interval(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// What the pre-pass must know of the other flags: the ones that take a
/// value in the next word.
#[derive(Debug, Clone, Default)]
pub struct ValueFlags {
    /// Short flags with a value (`N` for `-N NAME`).
    pub shorts: Vec<char>,
    /// Long flags with a value (`netns` for `--netns NAME`).
    pub longs: Vec<String>,
}

impl ValueFlags {
    /// Reads them from the clap definition (without `--continuous`).
    pub fn of(command: &clap::Command) -> ValueFlags {
        let mut flags = ValueFlags::default();
        let takes_value =
            |arg: &&clap::Arg| arg.get_action().takes_values() && arg.get_long() != Some(LONG);
        for arg in command.get_arguments().filter(takes_value) {
            flags.shorts.extend(arg.get_short());
            flags.longs.extend(arg.get_long().map(str::to_string));
        }
        flags
    }
}

/// Rewrites every spelling of `-c [SECS]` into `--continuous[=SECS]`,
/// leaving every other word as it was. See the module documentation.
pub fn normalize_continuous(args: Vec<OsString>, flags: &ValueFlags) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut words = args.into_iter().peekable();
    out.extend(words.next()); // the program name
    while let Some(word) = words.next() {
        let Some(text) = word.to_str().map(str::to_string) else {
            out.push(word); // not UTF-8: neither a flag of ours nor a number
            continue;
        };
        if text == "--" {
            out.push(word);
            out.extend(words.by_ref());
            break;
        }
        let step = if let Some(long) = text.strip_prefix("--") {
            long_word(long, flags)
        } else if text.len() > 1 && text.starts_with('-') {
            short_bundle(&text[1..], flags)
        } else {
            Step::keep()
        };
        push_step(&mut out, word, step, &mut words);
    }
    out
}

/// How one word is rewritten.
#[derive(Debug, Default, PartialEq, Eq)]
struct Step {
    /// Replacement words; `None` keeps the word as it is.
    replace: Option<Vec<String>>,
    /// The next word is the value of a flag in this word: copy it as is.
    skip_next: bool,
    /// `-c`/`--continuous` ends this word without a value: the next word
    /// is its value if it starts like a number.
    wants_value: bool,
}

impl Step {
    fn keep() -> Step {
        Step::default()
    }
}

fn push_step(
    out: &mut Vec<OsString>,
    word: OsString,
    step: Step,
    words: &mut Peekable<impl Iterator<Item = OsString>>,
) {
    match step.replace {
        Some(replacement) => out.extend(replacement.into_iter().map(OsString::from)),
        None => out.push(word),
    }
    if step.skip_next {
        out.extend(words.next());
    }
    if step.wants_value {
        let value = words.next_if(|next| next.to_str().is_some_and(meant_as_interval));
        if let (Some(value), Some(flag)) = (value, out.last_mut()) {
            flag.push(OsStr::new("="));
            flag.push(value);
        }
    }
}

/// `--NAME[=VALUE]`.
fn long_word(long: &str, flags: &ValueFlags) -> Step {
    let (name, has_value) = match long.split_once('=') {
        Some((name, _)) => (name, true),
        None => (long, false),
    };
    Step {
        replace: None,
        skip_next: !has_value && name != LONG && flags.longs.iter().any(|l| l == name),
        wants_value: !has_value && name == LONG,
    }
}

/// `-abc…`: a bundle of short flags, in which a flag that takes a value
/// takes the rest of the bundle (or, at its end, the next word).
fn short_bundle(bundle: &str, flags: &ValueFlags) -> Step {
    for (at, flag) in bundle.char_indices() {
        let rest = &bundle[at + flag.len_utf8()..];
        if flag == SHORT {
            return take_continuous(&bundle[..at], rest, flags);
        }
        if flags.shorts.contains(&flag) {
            return Step {
                skip_next: rest.is_empty(),
                ..Step::keep()
            };
        }
    }
    Step::keep()
}

/// `-` + `before` + `c` + `rest`: `rest` is either the interval (`-c2`,
/// `-c=2`) or more flags (`-canp`), which are scanned for a value flag.
fn take_continuous(before: &str, rest: &str, flags: &ValueFlags) -> Step {
    let value = rest.strip_prefix('=').unwrap_or(rest);
    let mut words = Vec::new();
    let mut step = Step::keep();
    if !rest.is_empty() && (rest.starts_with('=') || looks_like_interval(value)) {
        if !before.is_empty() {
            words.push(format!("-{before}"));
        }
        words.push(format!("--{LONG}={value}"));
    } else {
        let others = format!("{before}{rest}");
        if !others.is_empty() {
            step = short_bundle(&others, flags);
            words.push(format!("-{others}"));
        }
        // `-cN blue`: the value after the bundle is N's; -c takes none.
        step.wants_value = !step.skip_next && rest.is_empty();
        if step.wants_value {
            words.push(format!("--{LONG}"));
        } else {
            words.insert(0, format!("--{LONG}"));
        }
    }
    step.replace = Some(words);
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> ValueFlags {
        ValueFlags {
            shorts: vec!['N'],
            longs: vec!["netns".into(), "port".into(), "count".into()],
        }
    }

    fn normalized(args: &[&str]) -> Vec<String> {
        let mut argv = vec![OsString::from("tcpstat")];
        argv.extend(args.iter().map(OsString::from));
        normalize_continuous(argv, &flags())
            .into_iter()
            .skip(1)
            .map(|w| w.into_string().unwrap())
            .collect()
    }

    #[test]
    fn interval_accepts_seconds_and_fractions() {
        assert_eq!(parse_interval("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval(".25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2."), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("0.001"), Ok(Duration::from_millis(1)));
        for bad in [
            "", "0", "0.0001", "-1", "1e3", "1.2.3", "2s", "state", "100000",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_number_after_c_is_its_value() {
        assert_eq!(normalized(&["-c"]), ["--continuous"]);
        assert_eq!(normalized(&["-c", "2"]), ["--continuous=2"]);
        assert_eq!(normalized(&["-c2"]), ["--continuous=2"]);
        assert_eq!(normalized(&["-c0.5", "-n"]), ["--continuous=0.5", "-n"]);
        assert_eq!(normalized(&["-c=3"]), ["--continuous=3"]);
        assert_eq!(normalized(&["--continuous", ".5"]), ["--continuous=.5"]);
        assert_eq!(normalized(&["--continuous=7"]), ["--continuous=7"]);
    }

    #[test]
    fn a_word_that_starts_like_a_number_is_an_interval_to_check() {
        for bad in ["1e9", "2s", "1.2.3", ".x", "5,", "10.0.0.1"] {
            let want = [format!("--continuous={bad}")];
            assert_eq!(normalized(&["-c", bad]), want, "-c {bad}");
            assert_eq!(normalized(&["--continuous", bad]), want);
            assert_eq!(normalized(&["-anc", bad])[1..], want);
            assert!(parse_interval(bad).is_err(), "{bad:?} accepted");
        }
        // Not like a number: the expression (or a clap error) says.
        for word in ["nan", "inf", "-1", "+1", "state"] {
            assert_eq!(normalized(&["-c", word]), ["--continuous", word]);
        }
        // Attached, the rest may be flags: `-c4n` is `-c -4 -n`.
        assert_eq!(normalized(&["-c4n"]), ["--continuous", "-4n"]);
    }

    #[test]
    fn bundles_give_up_c_and_keep_the_rest() {
        assert_eq!(normalized(&["-anpoc"]), ["-anpo", "--continuous"]);
        assert_eq!(normalized(&["-anpoc", "2"]), ["-anpo", "--continuous=2"]);
        assert_eq!(normalized(&["-anpoc2"]), ["-anpo", "--continuous=2"]);
        assert_eq!(normalized(&["-canp"]), ["--continuous", "-anp"]);
        assert_eq!(
            normalized(&["-ac", "1", "-n"]),
            ["-a", "--continuous=1", "-n"]
        );
    }

    #[test]
    fn expression_words_are_never_taken() {
        assert_eq!(
            normalized(&["-c", "state", "established"]),
            ["--continuous", "state", "established"]
        );
        assert_eq!(
            normalized(&["-anc", "sport", "=", ":22"]),
            ["-an", "--continuous", "sport", "=", ":22"]
        );
        assert_eq!(
            normalized(&["--continuous", "dst"]),
            ["--continuous", "dst"]
        );
    }

    #[test]
    fn values_of_other_flags_are_left_alone() {
        // `-Nc`: the namespace is called "c".
        assert_eq!(normalized(&["-Nc"]), ["-Nc"]);
        assert_eq!(normalized(&["-N", "-c"]), ["-N", "-c"]);
        assert_eq!(
            normalized(&["-aN", "c", "-c", "1"]),
            ["-aN", "c", "--continuous=1"]
        );
        // `-cN blue`: the next word is N's value, not the interval.
        assert_eq!(normalized(&["-cN", "2"]), ["--continuous", "-N", "2"]);
        assert_eq!(normalized(&["--netns", "-c"]), ["--netns", "-c"]);
        assert_eq!(
            normalized(&["--port", "2", "-c"]),
            ["--port", "2", "--continuous"]
        );
        assert_eq!(
            normalized(&["--count", "3", "-c", "2"]),
            ["--count", "3", "--continuous=2"]
        );
        assert_eq!(normalized(&["--", "-c", "2"]), ["--", "-c", "2"]);
        assert_eq!(normalized(&["-x", "2"]), ["-x", "2"]);
    }

    #[test]
    fn value_flags_come_from_the_definition() {
        let command = clap::Command::new("t")
            .arg(clap::Arg::new("ns").short('N').long("netns"))
            .arg(
                clap::Arg::new("all")
                    .short('a')
                    .action(clap::ArgAction::SetTrue),
            )
            .arg(clap::Arg::new(LONG).short(SHORT).long(LONG).num_args(0..=1));
        let flags = ValueFlags::of(&command);
        assert_eq!(flags.shorts, ['N']);
        assert_eq!(flags.longs, ["netns"]);
    }
}
