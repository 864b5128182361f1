//! The man page and shell completions are generated from the clap
//! definition and committed. This test regenerates them and fails when the
//! committed files differ; run with `TCPSTAT_BLESS=1` to rewrite them.

use clap_complete::Shell;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn man_page() -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(tcpstat::cli::command())
        .render(&mut out)
        .expect("render man page");
    out
}

fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut tcpstat::cli::command(), "tcpstat", &mut out);
    out
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
