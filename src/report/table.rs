//! Column-aligned text tables: the status table, the build summary, the plan and
//! the graph listing all go through [`Table`], so their columns line up the same
//! way and no renderer computes widths by hand.

/// How wide a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// As wide as its widest cell (the header included).
    Fit,
    /// Padded to at least this many characters; a longer cell pushes the rest along.
    AtLeast(usize),
    /// Never padded (a last column, or free text such as a name).
    Free,
}

/// Which side of the column a cell sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column: the text before it (its gap), its width and alignment.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub gap: &'static str,
    pub width: Width,
    pub align: Align,
}

impl Column {
    pub const fn left(gap: &'static str, width: Width) -> Column {
        Column {
            gap,
            width,
            align: Align::Left,
        }
    }

    pub const fn right(gap: &'static str, width: Width) -> Column {
        Column {
            gap,
            width,
            align: Align::Right,
        }
    }
}

/// Rows of cells under a set of columns.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: impl Into<Vec<Column>>) -> Table {
        Table {
            columns: columns.into(),
            rows: Vec::new(),
        }
    }

    /// Add a row; missing cells are empty, extra cells are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
        self
    }

    /// The column widths `Fit` and `AtLeast` resolve to.
    fn widths(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c.width {
                Width::Fit => self
                    .rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0),
                Width::AtLeast(n) => n,
                Width::Free => 0,
            })
            .collect()
    }

    /// Each row as one line, every line ending in `\n`.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for row in &self.rows {
            for ((cell, col), &w) in row.iter().zip(&self.columns).zip(&widths) {
                out.push_str(col.gap);
                let pad = w.saturating_sub(cell.chars().count());
                if col.align == Align::Right {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
                out.push_str(cell);
                if col.align == Align::Left {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_columns_take_the_widest_cell_and_others_keep_their_rule() {
        let mut t = Table::new([
            Column::left("", Width::Fit),
            Column::left("  ", Width::AtLeast(4)),
            Column::right(" ", Width::AtLeast(5)),
            Column::left("  ", Width::Free),
        ]);
        t.row(["node", "out", "time", "detail"]);
        t.row(["ct:9500", "builtin", "1.5s", ""]);
        assert_eq!(
            t.render(),
            "node     out   time  detail\nct:9500  builtin  1.5s  \n"
        );
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::new([Column::left("", Width::Fit), Column::left("|", Width::Free)]);
        t.row(["→→", "x"]).row(["abc", "y"]);
        assert_eq!(t.render(), "→→ |x\nabc|y\n");
    }
}
