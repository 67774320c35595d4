//! Plain text tables aligned by display width (CJK and emoji take two columns), cut to the
//! terminal's width: columns give way in an order each table documents, cut cells end in
//! `…`, and no line is ever longer than the width (a terminal would wrap it).

use console::measure_text_width;

use crate::ui::truncate_to_width;

/// One way a table gives way on a narrow terminal; a table's steps are tried in order, each
/// only while the table is still too wide.
#[derive(Clone, Copy, Debug)]
pub enum Give {
    /// Cut the column's cells (with `…`), to no fewer than this many columns.
    Shrink(&'static str, usize),
    /// Leave the column out.
    Drop(&'static str),
}

/// Renders rows under a header, columns separated by two spaces, the last column unpadded,
/// within `width` columns (None: no limit), giving way by `give`; a line still too wide
/// after every step is cut.
pub fn render_fit(
    header: &[&str],
    rows: &[Vec<String>],
    width: Option<usize>,
    give: &[Give],
) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| measure_text_width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(measure_text_width(cell));
        }
    }
    let mut shown = vec![true; columns];
    if let Some(width) = width {
        fit(header, &mut widths, &mut shown, width, give);
    }
    let kept: Vec<usize> = (0..columns).filter(|i| shown[*i]).collect();
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (n, &i) in kept.iter().enumerate() {
            let cell = row.get(i).map_or("", String::as_str);
            let cell = truncate_to_width(cell, widths[i]);
            line.push_str(&cell);
            if n + 1 < kept.len() {
                let pad = widths[i].saturating_sub(measure_text_width(&cell)) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let line = line.trim_end();
        out.push_str(&width.map_or_else(|| line.to_owned(), |w| truncate_to_width(line, w)));
        out.push('\n');
    }
    out
}

/// Applies `give` until the shown columns fit `width`.
fn fit(header: &[&str], widths: &mut [usize], shown: &mut [bool], width: usize, give: &[Give]) {
    let total = |widths: &[usize], shown: &[bool]| -> usize {
        let cells: usize = (0..widths.len())
            .filter(|i| shown[*i])
            .map(|i| widths[i])
            .sum();
        cells + 2 * shown.iter().filter(|s| **s).count().saturating_sub(1)
    };
    for step in give {
        let excess = total(widths, shown).saturating_sub(width);
        if excess == 0 {
            return;
        }
        let column = |name: &str| header.iter().position(|h| *h == name);
        match *step {
            Give::Shrink(name, min) => {
                if let Some(i) = column(name) {
                    widths[i] = widths[i].saturating_sub(excess).max(min.min(widths[i]));
                }
            }
            Give::Drop(name) => {
                if let Some(i) = column(name) {
                    shown[i] = false;
                }
            }
        }
    }
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
        let out = render_fit(
            &["ID", "X"],
            &[
                vec!["日本".into(), "a".into()],
                vec!["ab".into(), "b".into()],
            ],
            None,
            &[],
        );
        assert_eq!(out, "ID    X\n日本  a\nab    b\n");
    }

    #[test]
    fn columns_shrink_then_drop_in_order_and_lines_never_exceed_the_width() {
        let rows = vec![vec![
            "a-change".into(),
            "conflux/a-change".into(),
            "a reason that is long".into(),
        ]];
        let header = ["ID", "BRANCH", "REASON"];
        let give = [
            Give::Shrink("REASON", 8),
            Give::Drop("BRANCH"),
            Give::Shrink("ID", 4),
        ];
        let wide = render_fit(&header, &rows, Some(80), &give);
        assert_eq!(wide, render_fit(&header, &rows, None, &[]));
        let cut = render_fit(&header, &rows, Some(40), &give);
        assert_eq!(
            cut,
            "ID        BRANCH            REASON\na-change  conflux/a-change  a reason th…\n"
        );
        let dropped = render_fit(&header, &rows, Some(20), &give);
        assert_eq!(dropped, "ID        REASON\na-change  a reaso…\n");
        for width in 1..40 {
            let out = render_fit(&header, &rows, Some(width), &give);
            assert!(
                out.lines().all(|l| measure_text_width(l) <= width),
                "{width}: {out}"
            );
        }
    }

    #[test]
    fn bar_rounds_and_shows_any_progress() {
        assert_eq!(bar(0, 10, 5), "░░░░░");
        assert_eq!(bar(1, 100, 5), "█░░░░");
        assert_eq!(bar(10, 10, 5), "█████");
        assert_eq!(bar(0, 0, 3), "···");
    }
}
