//! Plain text tables aligned by display width (CJK and emoji take two columns).

use console::measure_text_width;

/// Renders rows under a header, columns separated by two spaces, the last column unpadded.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| measure_text_width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(measure_text_width(cell));
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            line.push_str(cell);
            if i + 1 < columns {
                let pad = widths[i].saturating_sub(measure_text_width(cell)) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A small bar like `███░░` for done/total, `width` cells wide.
pub fn bar(done: usize, total: usize, width: usize) -> String {
    if total == 0 {
        return "·".repeat(width);
    }
    let filled = (done.min(total) * width + total / 2) / total;
    let filled = if done > 0 && filled == 0 { 1 } else { filled };
    "█".repeat(filled) + &"░".repeat(width - filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_by_display_width() {
        let out = render(
            &["ID", "X"],
            &[
                vec!["日本".into(), "a".into()],
                vec!["ab".into(), "b".into()],
            ],
        );
        assert_eq!(out, "ID    X\n日本  a\nab    b\n");
    }

    #[test]
    fn bar_rounds_and_shows_any_progress() {
        assert_eq!(bar(0, 10, 5), "░░░░░");
        assert_eq!(bar(1, 100, 5), "█░░░░");
        assert_eq!(bar(10, 10, 5), "█████");
        assert_eq!(bar(0, 0, 3), "···");
    }
}
