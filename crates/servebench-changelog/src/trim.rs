//! `--trim-conc`: one concurrency point per parallelism config.

use crate::recipe::frozen_key;
use crate::ChangelogError;
use servebench_pyjson::{Dict, Value};
use std::collections::HashMap;

/// Rows with a non-null `prefill` keep only their smallest concurrency
/// (`[min(conc)]`, when they have more than one); other rows are grouped by
/// every field but `conc` and `exp-name`, and only the first row with the
/// smallest `conc` of each group stays, in place.
pub fn trim_conc(rows: Vec<Dict>) -> Result<Vec<Dict>, ChangelogError> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Dict> = Vec::with_capacity(rows.len());
    for mut row in rows {
        if row.get("prefill").is_some_and(|p| *p != Value::Null) {
            if let Some(Value::List(conc)) = row.get("conc") {
                if conc.len() > 1 {
                    let smallest = servebench_pyjson::min(conc)
                        .map_err(ChangelogError::Type)?
                        .cloned()
                        .unwrap_or(Value::Null);
                    row.insert("conc", Value::List(vec![smallest]));
                }
            }
            out.push(row);
            continue;
        }
        let key = frozen_key(&row, &["conc", "exp-name"]);
        let next = groups.len();
        let g = *group_of.entry(key).or_insert(next);
        if g == next {
            groups.push(Vec::new());
        }
        if let Some(members) = groups.get_mut(g) {
            members.push(out.len());
        }
        out.push(row);
    }
    let mut keep = vec![true; out.len()];
    for members in groups.iter().filter(|m| m.len() > 1) {
        let mut best: Option<(usize, &Value)> = None;
        for &i in members {
            let conc = conc_of(&out, i)?;
            best = match best {
                Some((_, b))
                    if !servebench_pyjson::lt(conc, b).map_err(ChangelogError::Type)? =>
                {
                    best
                }
                _ => Some((i, conc)),
            };
        }
        for &i in members {
            if best.is_some_and(|(b, _)| b != i) {
                if let Some(k) = keep.get_mut(i) {
                    *k = false;
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .zip(keep)
        .filter_map(|(row, k)| k.then_some(row))
        .collect())
}

fn conc_of(rows: &[Dict], i: usize) -> Result<&Value, ChangelogError> {
    rows.get(i)
        .and_then(|r| r.get("conc"))
        .ok_or_else(|| ChangelogError::InvalidConcurrency("a row without 'conc'".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(json: &str) -> Vec<Dict> {
        match servebench_pyjson::from_str(json).unwrap() {
            Value::List(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::Dict(d) => d,
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    fn text(rows: &[Dict]) -> String {
        servebench_pyjson::to_string(&Value::List(
            rows.iter().cloned().map(Value::Dict).collect(),
        ))
    }

    #[test]
    fn single_node_groups_keep_their_first_smallest_point_in_place() {
        let got = trim_conc(rows(
            r#"[{"tp": 2, "conc": 8, "exp-name": "a"}, {"tp": 4, "conc": 4}, {"tp": 2, "conc": 4, "exp-name": "b"},
                {"tp": 2, "conc": 4, "exp-name": "c"}, {"tp": 8, "conc": 16}]"#,
        ))
        .unwrap();
        assert_eq!(
            text(&got),
            r#"[{"tp": 4, "conc": 4}, {"tp": 2, "conc": 4, "exp-name": "b"}, {"tp": 8, "conc": 16}]"#
        );
    }

    #[test]
    fn multi_node_rows_keep_their_smallest_concurrency() {
        let got = trim_conc(rows(
            r#"[{"prefill": {"tp": 1}, "conc": [64, 8, 32]}, {"prefill": {"tp": 1}, "conc": [5]},
                {"prefill": null, "conc": 3, "k": {"name": "x"}}, {"prefill": null, "conc": 2, "k": {"name": "x"}}]"#,
        ))
        .unwrap();
        assert_eq!(
            text(&got),
            r#"[{"prefill": {"tp": 1}, "conc": [8]}, {"prefill": {"tp": 1}, "conc": [5]}, {"prefill": null, "conc": 2, "k": {"name": "x"}}]"#
        );
    }

    #[test]
    fn incomparable_concurrencies_are_a_type_error() {
        let err = trim_conc(rows(r#"[{"tp": 2, "conc": 8}, {"tp": 2, "conc": "4"}]"#));
        assert!(matches!(err, Err(ChangelogError::Type(_))));
    }
}
