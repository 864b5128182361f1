//! Printers. Each reads the same [`crate::model::Socket`] rows plus the
//! optional owner map, or what [`crate::diagnose`] made of them; none of
//! them formats through another.
//!
//! - [`table`]: netstat's table; [`json`]: the `--json` array and the
//!   one-object lines.
//! - [`Printer`]: watch mode's passes (`-c`) and [`events`] (`--events`),
//!   through the same table and wire types as the one-shot listing.
//! - [`order`]: `--sort`, `--reverse` and `--top`.
//! - [`summary`]: `-s`; [`why`]: `why PORT`.
//! - [`wire`]: every serde type of the JSON output.

pub mod events;
pub mod inside;
pub mod json;
pub mod kill;
pub mod order;
mod printer;
pub mod summary;
pub mod table;
pub mod unix_table;
pub mod why;
pub mod wire;

pub use printer::Printer;

/// Escapes text that came from outside the program (names, or diagnosis
/// text that names programs) so that a hostile name cannot drive the
/// terminal: the one escaping of [`crate::escape`], which the table and
/// events apply to names through [`table::format_endpoint`],
/// [`table::Names::user`] and [`table::program_label`].
pub fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    crate::escape::escape(text)
}

/// Writes a comfy-table table line by line: no margin on the left, two
/// blanks between columns, none trailing.
fn write_table(w: &mut impl std::io::Write, mut table: comfy_table::Table) -> std::io::Result<()> {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        writeln!(w, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A comfy-table table with no borders or lines, for [`write_table`].
fn bare_table() -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table
}
