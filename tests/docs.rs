//! The man pages and shell completions are generated from the clap
//! definition (and the manual's data in `tcpstat::cli::manual`) and
//! committed. This test regenerates them and fails when the committed files
//! differ; run with `TCPSTAT_BLESS=1` to rewrite them. It also checks that
//! the manual's COLUMNS are the table's real headers, and runs the bash
//! completion for real.

mod support;

use clap::Command;
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::path::{Path, PathBuf};
use support::netns::Netns;
use support::Need;
use tcpstat::cli::manual;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tcpstat(1)`: clap's sections, then EXIT STATUS, COLUMNS and JSON before
/// the examples, and SEE ALSO last.
fn man_page() -> Vec<u8> {
    let man = Man::new(tcpstat::cli::command());
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    man.render_subcommands_section(&mut out).unwrap();
    let mut roff = Roff::default();
    definitions(&mut roff, "EXIT STATUS", manual::EXIT_STATUS);
    definitions(
        &mut roff,
        "COLUMNS",
        &[manual::COLUMNS, manual::MODE_COLUMNS].concat(),
    );
    roff.control("SH", ["JSON"]).text([roman(manual::JSON)]);
    definitions(&mut roff, "COMPATIBILITY", manual::COMPATIBILITY);
    roff.to_writer(&mut out).unwrap();
    examples().to_writer(&mut out).unwrap();
    man.render_version_section(&mut out).unwrap();
    see_also(manual::SEE_ALSO).to_writer(&mut out).unwrap();
    out
}

/// EXAMPLES: the examples `--help` ends with, one per line as written.
fn examples() -> Roff {
    let cmd = tcpstat::cli::command();
    let text = cmd
        .get_after_help()
        .expect("examples after the help")
        .to_string();
    let mut roff = Roff::default();
    roff.control("SH", ["EXAMPLES"]).control("nf", []);
    for line in text.lines().skip_while(|l| l.starts_with("Examples")) {
        roff.text([roman(line.trim_start())]);
    }
    roff.control("fi", []);
    roff
}

/// `tcpstat-why(1)`: the subcommand's page.
fn why_page() -> Vec<u8> {
    let mut cmd = tcpstat::cli::command();
    cmd.build();
    let why = cmd
        .find_subcommand("why")
        .expect("a why subcommand")
        .clone()
        .name("tcpstat-why")
        .bin_name("tcpstat why");
    let man = Man::new(why);
    let mut out = Vec::new();
    man.render(&mut out).unwrap();
    let status = &[
        ("0", "A plain bind() of the port would succeed now."),
        ("1", "It would fail, or the sockets could not be read."),
        ("2", "A usage error."),
    ];
    let mut roff = Roff::default();
    definitions(&mut roff, "EXIT STATUS", status);
    roff.to_writer(&mut out).unwrap();
    see_also(&["tcpstat(1)", "bind(2)", "socket(7)", "tcp(7)"])
        .to_writer(&mut out)
        .unwrap();
    out
}

/// `tcpstat-serve(1)`: the subcommand's page.
fn serve_page() -> Vec<u8> {
    let mut cmd = tcpstat::cli::command();
    cmd.build();
    let serve = cmd
        .find_subcommand("serve")
        .expect("a serve subcommand")
        .clone()
        .name("tcpstat-serve")
        .bin_name("tcpstat serve");
    let man = Man::new(serve);
    let mut out = Vec::new();
    man.render(&mut out).unwrap();
    let status = &[
        (
            "0",
            "With --textfile and no --interval: the file was written from a complete dump.",
        ),
        (
            "1",
            "The address could not be listened on, the file not written, or (once) the \
             sockets not read.",
        ),
        ("2", "A usage error."),
        ("130", "Stopped by SIGINT."),
        ("143", "Stopped by SIGTERM."),
    ];
    let mut roff = Roff::default();
    definitions(&mut roff, "EXIT STATUS", status);
    roff.to_writer(&mut out).unwrap();
    see_also(&[
        "tcpstat(1)",
        "prometheus(1)",
        "promtool(1)",
        "ss(8)",
        "tcp(7)",
    ])
    .to_writer(&mut out)
    .unwrap();
    out
}

/// `tcpstat-top(1)`: the subcommand's page, with its keys (the list the
/// help overlay shows).
fn top_page() -> Vec<u8> {
    let mut cmd = tcpstat::cli::command();
    cmd.build();
    let top = cmd
        .find_subcommand("top")
        .expect("a top subcommand")
        .clone()
        .name("tcpstat-top")
        .bin_name("tcpstat top");
    let man = Man::new(top);
    let mut out = Vec::new();
    man.render(&mut out).unwrap();
    let mut roff = Roff::default();
    definitions(&mut roff, "KEYS", tcpstat::top::draw::KEYS);
    let status = &[
        ("0", "Quit with q or Ctrl-C."),
        (
            "1",
            "The terminal went away, or could not be set up or written.",
        ),
        (
            "2",
            "A usage error; also when stdout is not a terminal (use -c there).",
        ),
        ("129", "Ended by SIGHUP."),
        ("130", "Ended by SIGINT."),
        ("143", "Ended by SIGTERM."),
    ];
    definitions(&mut roff, "EXIT STATUS", status);
    roff.to_writer(&mut out).unwrap();
    see_also(&["tcpstat(1)", "tcpstat-serve(1)", "ss(8)", "tcp(7)"])
        .to_writer(&mut out)
        .unwrap();
    out
}

/// A section of `.TP` definitions: a bold term, then its text.
fn definitions(roff: &mut Roff, title: &str, items: &[(&str, &str)]) {
    roff.control("SH", [title]);
    for (term, text) in items {
        roff.control("TP", [])
            .text([bold(*term)])
            .text([roman(*text)]);
    }
}

fn see_also(pages: &[&str]) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["SEE ALSO"])
        .text([roman(pages.join(", "))]);
    roff
}

/// The command as completions should see it: without hidden arguments
/// (`--proc-root` is for tests), which clap_complete would offer.
fn visible(cmd: &Command) -> Command {
    // clap takes names as `&'static str` (without its `string` feature).
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let mut out = Command::new(leak(cmd.get_name()))
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(cmd.get_subcommands().map(visible));
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(leak(version));
    }
    out
}

/// The bash, zsh or fish completion, with `-N` completing `all` and the
/// names of `ip netns` (and paths), which no static generator can list.
fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cmd = visible(&tcpstat::cli::command());
    clap_complete::generate(shell, &mut cmd, "tcpstat", &mut out);
    let text = String::from_utf8(out).unwrap();
    let names = "echo all; ip netns list 2>/dev/null | cut -d' ' -f1";
    let text = match shell {
        Shell::Bash => {
            let files = "                    COMPREPLY=($(compgen -f \"${cur}\"))";
            let netns = format!(
                "                    COMPREPLY=($(compgen -W \"$({names})\" -- \"${{cur}}\") \
                 $(compgen -f \"${{cur}}\"))"
            );
            let mut text = text;
            for flag in ["--netns)", "-N)"] {
                let from = format!("                {flag}\n{files}");
                let to = format!("                {flag}\n{netns}");
                assert!(text.contains(&from), "bash: no {flag} case to complete");
                text = text.replace(&from, &to);
            }
            text
        }
        Shell::Zsh => {
            let from = ":NAME|PATH|all:_default'";
            assert!(text.contains(from), "zsh: no -N spec");
            let text = text.replace(from, ":NAME|PATH|all:_tcpstat_netns'");
            format!(
                "{text}\n_tcpstat_netns() {{\n    compadd -- ${{(f)\"$({names})\"}}\n    _files\n}}\n"
            )
        }
        Shell::Fish => format!(
            "{text}complete -c tcpstat -s N -l netns -x -a \"all (ip netns list 2>/dev/null | string replace -r ' .*' '')\"\n"
        ),
        _ => text,
    };
    text.into_bytes()
}

/// Compares `generated` with the committed file, or rewrites it when blessing.
fn check(path: &Path, generated: &[u8]) -> Option<String> {
    if std::env::var_os("TCPSTAT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, generated).unwrap();
        return None;
    }
    match std::fs::read(path) {
        Ok(committed) if committed == generated => None,
        Ok(_) => Some(format!(
            "{} differs from the CLI definition",
            path.display()
        )),
        Err(e) => Some(format!("{}: {e}", path.display())),
    }
}

#[test]
fn generated_docs_match_the_cli() {
    let r = root();
    let files: Vec<(PathBuf, Vec<u8>)> = vec![
        (r.join("man/tcpstat.1"), man_page()),
        (r.join("man/tcpstat-why.1"), why_page()),
        (r.join("man/tcpstat-serve.1"), serve_page()),
        (r.join("man/tcpstat-top.1"), top_page()),
        (r.join("completions/tcpstat.bash"), completion(Shell::Bash)),
        (r.join("completions/_tcpstat"), completion(Shell::Zsh)),
        (r.join("completions/tcpstat.fish"), completion(Shell::Fish)),
    ];
    let drift: Vec<String> = files.iter().filter_map(|(p, g)| check(p, g)).collect();
    assert!(
        drift.is_empty(),
        "{}\nregenerate with: TCPSTAT_BLESS=1 cargo test --test docs",
        drift.join("\n")
    );
}

#[test]
fn man_page_has_the_sections_people_look_for() {
    let page = String::from_utf8(man_page()).unwrap();
    for section in [
        "EXIT STATUS",
        "COLUMNS",
        "JSON",
        "SEE ALSO",
        "OPTIONS",
        "EXAMPLES",
    ] {
        let heading = if section.contains(' ') {
            format!(".SH \"{section}\"")
        } else {
            format!(".SH {section}")
        };
        assert!(
            page.contains(&heading) || page.contains(&format!(".SH {section}")),
            "no {section} section"
        );
    }
    assert!(page.contains("tcpstat\\-why(1)"), "SEE ALSO lacks why");
    let why = String::from_utf8(why_page()).unwrap();
    assert!(why.contains("tcpstat\\-why") && why.contains("\\-\\-addr"));
    let serve = String::from_utf8(serve_page()).unwrap();
    assert!(serve.contains("tcpstat\\-serve") && serve.contains("\\-\\-max\\-series"));
    let top = String::from_utf8(top_page()).unwrap();
    assert!(top.contains(".SH KEYS") && top.contains("Ctrl\\-C"));
}

/// Every column the manual describes is a header the table prints, in the
/// manual's order, with every column shown.
#[test]
fn manual_columns_are_the_tables_headers() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-anpoe", "--explain", "--source", "proc", "--proc-root"])
        .arg(root().join("tests/fixtures/proc/loopback"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().nth(1).expect("a header line");
    let mut at = 0;
    for (name, _) in manual::COLUMNS {
        let found = header[at..]
            .find(name)
            .unwrap_or_else(|| panic!("{name:?} not in (or out of order in) {header:?}"));
        at += found + name.len();
    }
}

/// The columns of `-N all` and `-c -i` are the headers the table writes
/// with them, in the manual's order.
#[test]
fn manual_mode_columns_are_the_tables_headers() {
    let columns = tcpstat::config::Columns {
        rates: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    let scope = tcpstat::config::Scope::All;
    tcpstat::render::table::write_header(&mut out, scope, columns, Some(false)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let header = text.lines().nth(1).expect("a header line");
    let mut at = 0;
    for (name, _) in manual::MODE_COLUMNS {
        let found = header[at..]
            .find(name)
            .unwrap_or_else(|| panic!("{name:?} not in (or out of order in) {header:?}"));
        at += found + name.len();
    }
}

#[test]
fn completions_offer_no_hidden_flag_and_the_state_names() {
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let text = String::from_utf8(completion(shell)).unwrap();
        assert!(!text.contains("proc-root"), "{shell}: offers --proc-root");
        assert!(text.contains("time-wait"), "{shell}: no state names");
    }
}

/// Sources the generated bash completion in a real bash and asks it what
/// `-N` and `--state` complete to: a namespace made for the test, and the
/// state names.
#[test]
fn bash_completes_namespaces_and_states() {
    support::require!(Need::Netns, Need::Tool("bash"));
    let ns = Netns::create("docs", "complete");
    let script = root().join("completions/tcpstat.bash");
    let ask = |words: &str| -> String {
        let program = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _tcpstat tcpstat \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &program])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let prefix = &ns.name()[..ns.name().len() - 2];
    let names = ask(&format!("tcpstat -N {prefix}"));
    assert!(
        names.lines().any(|l| l == ns.name()),
        "-N offered {names:?}"
    );
    let states = ask("tcpstat --state time");
    assert_eq!(states.trim(), "time-wait");
}
