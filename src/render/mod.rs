//! Printers. Each reads the same [`crate::model::Socket`] rows plus the
//! optional owner map; none of them formats through another.

pub mod json;
pub mod table;

/// Replaces control characters in text that came from the system (process
/// names) so a hostile name cannot drive the terminal.
pub fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(sanitize("nginx"), "nginx");
        assert_eq!(sanitize("evil\x1b[2Jname\n"), "evil?[2Jname?");
        assert_eq!(sanitize("\u{9b}x"), "?x");
    }
}
