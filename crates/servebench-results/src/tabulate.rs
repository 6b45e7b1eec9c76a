//! `tabulate(rows, headers, tablefmt="github")` of tabulate 0.9, for the
//! single-line, ANSI-free cells `summarize` produces.
//!
//! Each column gets the most general type of its cells (none < bool < int <
//! float < str), where numeric strings count as numbers; a float column
//! re-renders every cell with `format(float(cell), "g")`; number columns are
//! decimal-aligned, the rest left-aligned; widths count code points.

use crate::ResultsError;
use servebench_pyjson::Value;
use servebench_pyjson::{float_of, general, parse_float, parse_int};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CellType {
    None,
    Bool,
    Int,
    Float,
    Str,
}

fn is_number_str(s: &str) -> bool {
    match parse_float(s) {
        Some(f) if f.is_finite() => true,
        Some(_) => matches!(s.to_lowercase().as_str(), "inf" | "-inf" | "nan"),
        None => false,
    }
}

fn cell_type(v: &Value) -> CellType {
    match v {
        Value::Null => CellType::None,
        Value::Bool(_) => CellType::Bool,
        Value::Str(s) if s == "True" || s == "False" => CellType::Bool,
        Value::Int(_) => CellType::Int,
        Value::Str(s) if parse_int(s).is_some() => CellType::Int,
        Value::Float(_) => CellType::Float,
        Value::Str(s) if is_number_str(s) => CellType::Float,
        _ => CellType::Str,
    }
}

/// `_format(val, coltype)`. In a float column every cell goes through
/// `float()`, which fails for the strings `True`/`False` (typed as bools).
fn render(v: &Value, column: CellType) -> Result<String, String> {
    match (v, column) {
        (Value::Null, _) => Ok(String::new()),
        (_, CellType::Float) => float_of(v).map(general).ok_or_else(|| {
            format!(
                "cannot render {} in a numeric column (Python's tabulate fails on it too)",
                crate::pyrepr::repr(v)
            )
        }),
        _ => Ok(crate::pyrepr::to_str(v)),
    }
}

/// `_afterpoint`: digits after the decimal point (or exponent marker) of a
/// rendered number, −1 for integers and non-numbers.
fn after_point(s: &str) -> isize {
    if !is_number_str(s) || parse_int(s).is_some() {
        return -1;
    }
    let pos = s.rfind('.').or_else(|| s.to_lowercase().rfind('e'));
    match pos {
        Some(p) => (s.chars().count() - s[..p].chars().count()) as isize - 1,
        None => -1,
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

struct Column<'a> {
    header: &'a str,
    /// Aligned and padded to `width`.
    cells: Vec<String>,
    numeric: bool,
    width: usize,
}

/// Types, renders and aligns one column (`_column_type`, `_format`,
/// `_align_column`).
fn column<'a>(header: &'a str, values: &[&Value]) -> Result<Column<'a>, String> {
    let ty = values
        .iter()
        .map(|v| cell_type(v))
        .fold(CellType::Bool, std::cmp::max);
    let rendered: Vec<String> = values
        .iter()
        .map(|v| render(v, ty).map_err(|e| format!("column '{header}': {e}")))
        .collect::<Result<_, _>>()?;
    let numeric = matches!(ty, CellType::Int | CellType::Float);
    let aligned: Vec<String> = if numeric {
        let afters: Vec<isize> = rendered.iter().map(|s| after_point(s)).collect();
        let max_after = afters.iter().copied().max().unwrap_or(-1);
        rendered
            .iter()
            .zip(&afters)
            .map(|(s, a)| format!("{s}{}", " ".repeat((max_after - a) as usize)))
            .collect()
    } else {
        rendered.iter().map(|s| s.trim().to_owned()).collect()
    };
    let width = aligned
        .iter()
        .map(|s| width(s))
        .max()
        .unwrap_or(0)
        .max(width(header) + 2);
    let cells = aligned
        .into_iter()
        .map(|s| pad(&s, width, numeric))
        .collect();
    Ok(Column {
        header,
        cells,
        numeric,
        width,
    })
}

fn pad(s: &str, to: usize, on_left: bool) -> String {
    let fill = " ".repeat(to.saturating_sub(width(s)));
    if on_left {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

fn table_line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let inner: Vec<String> = cells.map(|c| format!(" {c} ")).collect();
    format!("|{}|", inner.join("|"))
}

/// The github-format table, without a trailing newline; a cell that cannot
/// be rendered is [`ResultsError::Invalid`].
pub(crate) fn github(headers: &[&str], rows: &[Vec<Value>]) -> Result<String, ResultsError> {
    let columns: Vec<Column> = headers
        .iter()
        .enumerate()
        .map(|(c, header)| {
            let values: Vec<&Value> = rows
                .iter()
                .map(|r| r.get(c).unwrap_or(&Value::Null))
                .collect();
            column(header, &values)
        })
        .collect::<Result<_, _>>()
        .map_err(ResultsError::Invalid)?;
    let header_cells: Vec<String> = columns
        .iter()
        .map(|col| pad(col.header, col.width, col.numeric))
        .collect();
    let mut lines = vec![table_line(header_cells.iter().map(String::as_str))];
    let rule: Vec<String> = columns
        .iter()
        .map(|col| "-".repeat(col.width + 2))
        .collect();
    lines.push(format!("|{}|", rule.join("|")));
    for r in 0..rows.len() {
        lines.push(table_line(columns.iter().map(|col| col.cells[r].as_str())));
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    /// Expected output produced by tabulate 0.9.0.
    #[test]
    fn matches_tabulate() {
        let rows = vec![
            vec![
                s("dsr1"),
                Value::Int(8),
                s("1234567.8912"),
                Value::Bool(true),
                s("08"),
                Value::Null,
                s("0.0000"),
            ],
            vec![
                s(" é "),
                Value::Int(16),
                s("25.0000"),
                s("False"),
                Value::Int(3),
                Value::Null,
                s("-0.0000"),
            ],
            vec![
                s("x"),
                Value::Int(1),
                s("12345.6780"),
                Value::Null,
                s("1_0"),
                Value::Null,
                s("nan"),
            ],
        ];
        let got = github(
            &["Model", "TP", "TTFT (ms)", "Flag", "Mixed", "None", "Z"],
            &rows,
        );
        let want = "\
| Model   |   TP |       TTFT (ms) | Flag   |   Mixed | None   |   Z |
|---------|------|-----------------|--------|---------|--------|-----|
| dsr1    |    8 |     1.23457e+06 | True   |      08 |        |   0 |
| é       |   16 |    25           | False  |       3 |        |  -0 |
| x       |    1 | 12345.7         |        |     1_0 |        | nan |";
        assert_eq!(got.unwrap(), want);
    }

    #[test]
    fn a_bool_string_in_a_float_column_fails_as_in_python() {
        let rows = vec![vec![s("True")], vec![Value::Float(1.5)]];
        let err = github(&["X"], &rows).unwrap_err().to_string();
        assert!(
            err.contains("column 'X'") && err.contains("'True'"),
            "{err}"
        );
        // In a bool or int column it is just text.
        assert_eq!(
            github(&["X"], &[vec![s("True")], vec![Value::Int(2)]])
                .unwrap()
                .lines()
                .nth(2),
            Some("| True |")
        );
    }
}
