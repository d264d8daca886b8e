//! A plain-text table with aligned columns.

/// Rows of cells under a header.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// A row; each cell is shown terminal-safe (a newline in a plugin's
    /// answer would otherwise break the table, an escape sequence the
    /// terminal).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        let safe = |c: String| match crate::shown::terminal_safe(&c) {
            std::borrow::Cow::Borrowed(_) => c,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        self.rows.push(cells.into_iter().map(safe).collect());
    }

    pub(crate) fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .chain(std::iter::once(&self.header[i]))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(
            &widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("  "),
        );
        for r in &self.rows {
            out.push('\n');
            out.push_str(&line(r));
        }
        out
    }
}

/// A long id shortened for display: its start, an ellipsis and its length.
pub(crate) fn short_id(id: &str) -> String {
    if id.chars().count() <= 16 {
        return id.to_string();
    }
    let head: String = id.chars().take(12).collect();
    format!("{head}… ({} chars)", id.chars().count())
}

/// Microseconds with one decimal.
pub(crate) fn micros(d: std::time::Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
