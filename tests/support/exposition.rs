//! Prometheus's text exposition, as `serve` answers it and writes it
//! (`--textfile`), read back into samples.

use std::collections::BTreeMap;

/// The samples of an exposition: `name{labels}` → value.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}
