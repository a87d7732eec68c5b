//! Text from the network on its way to a terminal or a log.

/// `text` with every control character (ESC, BEL, CR, NUL, DEL, the C1 range, ...) written as
/// an escape (`\u{1b}`), so that text a server or a URL chose cannot clear a screen, set a
/// window title or overwrite a line. Tabs are kept; everything else printable is unchanged.
pub fn printable(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`printable`], cut to at most `max` bytes of the text that came (on a character boundary,
/// `…` marking the cut), in an allocation of its own size: for what is kept after the answer
/// that brought it is gone (error messages, reasons in a report).
pub fn printable_bounded(text: &str, max: usize) -> String {
    let mut out = if text.len() <= max {
        printable(text)
    } else {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        printable(&text[..end]) + "…"
    };
    out.shrink_to_fit();
    out
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        // Bidirectional overrides and isolates: they reorder what a reader sees.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain text, tab\tkept"), "plain text, tab\tkept");
        assert_eq!(
            printable("\u{1b}[2J\u{1b}]0;owned\u{7}\rauthorized OK\n"),
            "\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{d}authorized OK\\u{a}"
        );
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
        assert!(!printable("\u{0}\u{7f}").chars().any(|c| c.is_control()));
    }

    #[test]
    fn bounded_text_is_cut_on_a_character_and_holds_only_itself() {
        assert_eq!(printable_bounded("short", 10), "short");
        assert_eq!(printable_bounded("ééé", 3), "é…");
        let long = printable_bounded(&"\u{1b}x".repeat(1_000_000), 100);
        assert!(
            long.len() < 400 && long.capacity() == long.len(),
            "{}",
            long.len()
        );
        assert!(!long.chars().any(|c| c.is_control()));
    }
}
