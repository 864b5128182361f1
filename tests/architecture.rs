//! The module graph of `src/` stays what ARCHITECTURE.md draws: every
//! `crate::…` path between the modules directly under `src/` points one
//! way (no cycle), and the data layer (`source`, `owners`, `collect`)
//! never reaches up to the command line or the resolved config.
//!
//! Read from the source text, not from the compiler: a path in code,
//! tests included, is an edge; one in a comment is not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges between top-level modules: from → the modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str();
    let first = first.to_str().unwrap();
    first.strip_suffix(".rs").unwrap_or(first).to_string()
}

/// The code of a line: without a `//` comment (doc comments included).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// The top-level names a `crate::` path reaches from `text` (which starts
/// right after `crate::`): one identifier, or each first identifier of a
/// `{a::b, c}` group.
fn targets(text: &str, out: &mut BTreeSet<String>) {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = text.strip_prefix('{') else {
        out.insert(ident(text));
        return;
    };
    let (mut depth, mut start) = (0, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && !c.is_whitespace() => {
                out.insert(ident(&group[i..]));
                start = false;
            }
            _ => {}
        }
    }
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let from = module_of(&src, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        // `use crate::{…}` groups span lines: join the code of the file.
        let code: String = text.lines().map(code_of).collect::<Vec<_>>().join(" ");
        let mut to = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue; // `tcpstat_crate::` and the like
            }
            targets(&code[at + "crate::".len()..], &mut to);
        }
        to.retain(|t| !t.is_empty() && *t != from);
        graph.entry(from).or_default().extend(to);
    }
    graph
}

/// A cycle through `start`, if there is one, as the path of modules.
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = graph();
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles:\n{}\n\nthe graph:\n{graph:#?}",
        cycles.join("\n")
    );
}

#[test]
fn the_data_layer_does_not_import_the_command_line_or_config() {
    let graph = graph();
    for lower in ["source", "owners", "collect", "model", "filter", "names"] {
        let imports = graph.get(lower).cloned().unwrap_or_default();
        for upper in ["cli", "config", "app", "render", "watch"] {
            assert!(
                !imports.contains(upper),
                "{lower} imports {upper}: {imports:?}"
            );
        }
    }
}

#[test]
fn the_graph_reader_sees_groups_and_skips_comments() {
    let mut out = BTreeSet::new();
    targets(
        "{model::{Socket, TcpState}, owners::Map, error}::x",
        &mut out,
    );
    assert_eq!(
        out.into_iter().collect::<Vec<_>>(),
        ["error", "model", "owners"]
    );
    assert_eq!(code_of("use a; // crate::cli"), "use a; ");
    let graph = graph();
    assert!(graph["app"].contains("collect"), "{graph:?}");
}
