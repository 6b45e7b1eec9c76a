//! Append-only entries: what a PR may change in the configs, and the
//! generated points it adds over the base revision.

use crate::recipe::{curve_key, freeze};
use crate::{ChangelogError, Scenario};
use servebench_pyjson::{eq, Dict, Value};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The concurrencies of a row: an int, or a non-empty list of ints.
fn concurrencies(row: &Dict) -> Result<Vec<i128>, ChangelogError> {
    let as_int = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i128::from(*b)),
        _ => None,
    };
    let conc = row.get("conc").unwrap_or(&Value::Null);
    let values = match conc {
        Value::List(items) if !items.is_empty() => items.iter().map(as_int).collect(),
        other => as_int(other).map(|i| vec![i]),
    };
    values.ok_or_else(|| ChangelogError::InvalidConcurrency(servebench_pyjson::to_string(conc)))
}

/// Curves (rows without their point-level fields) in first-seen order,
/// each with the set of its concurrencies.
#[derive(Default)]
struct Curves {
    order: Vec<String>,
    points: HashMap<String, BTreeSet<i128>>,
}

impl Curves {
    fn of(rows: &[Dict]) -> Result<Curves, ChangelogError> {
        let mut curves = Curves::default();
        for row in rows {
            let key = curve_key(row);
            let values = concurrencies(row)?;
            if !curves.points.contains_key(&key) {
                curves.order.push(key.clone());
            }
            curves.points.entry(key).or_default().extend(values);
        }
        Ok(curves)
    }
}

/// The points `head` adds over `base`, refusing any change to an existing
/// point: every base curve must still be there with all its
/// concurrencies, something must be added, and every addition must belong
/// to a base visual series drawn with one unchanged image.
pub fn append_only_delta(base: &[Dict], head: &[Dict]) -> Result<Vec<Dict>, ChangelogError> {
    let base_curves = Curves::of(base)?;
    let head_curves = Curves::of(head)?;
    if base_curves.order.is_empty() {
        return Err(ChangelogError::NoBaseCurve);
    }
    if base_curves
        .order
        .iter()
        .any(|k| !head_curves.points.contains_key(k))
    {
        return Err(ChangelogError::RecipeRemoved);
    }
    let empty = BTreeSet::new();
    for key in &base_curves.order {
        let base_points = base_curves.points.get(key).unwrap_or(&empty);
        let head_points = head_curves.points.get(key).unwrap_or(&empty);
        let removed: Vec<i128> = base_points.difference(head_points).copied().collect();
        if !removed.is_empty() {
            return Err(ChangelogError::PointsRemoved { points: removed });
        }
    }

    let mut delta = Vec::new();
    let mut emitted: HashMap<String, HashSet<i128>> = HashMap::new();
    for row in head {
        let key = curve_key(row);
        let base_points = base_curves.points.get(&key).unwrap_or(&empty);
        let head_points = head_curves.points.get(&key).unwrap_or(&empty);
        let is_added = |v: i128| head_points.contains(&v) && !base_points.contains(&v);
        let seen = emitted.entry(key).or_default();
        match row.get("conc") {
            Some(Value::List(items)) => {
                let mut fresh = Vec::new();
                for item in items {
                    let v = match item {
                        Value::Int(i) => *i,
                        Value::Bool(b) => i128::from(*b),
                        _ => continue,
                    };
                    if is_added(v) && seen.insert(v) {
                        fresh.push(item.clone());
                    }
                }
                if !fresh.is_empty() {
                    let mut copy = row.clone();
                    copy.insert("conc", Value::List(fresh));
                    delta.push(copy);
                }
            }
            _ => {
                let v = concurrencies(row)?.first().copied().unwrap_or_default();
                if is_added(v) && seen.insert(v) {
                    delta.push(row.clone());
                }
            }
        }
    }
    if delta.is_empty() {
        return Err(ChangelogError::NoAddedPoints);
    }

    let mut base_images: HashMap<String, HashSet<String>> = HashMap::new();
    for row in base {
        base_images
            .entry(visual_series_key(row)?)
            .or_default()
            .insert(frozen(row.get("image").unwrap_or(&Value::Null)));
    }
    for row in &delta {
        let image = row.get("image").unwrap_or(&Value::Null);
        let images = base_images.get(&visual_series_key(row)?);
        let unchanged = images.is_some_and(|set| set.len() == 1 && set.contains(&frozen(image)));
        if *image == Value::Null || !unchanged {
            return Err(ChangelogError::NotOnVisualCurve);
        }
    }
    Ok(delta)
}

fn frozen(v: &Value) -> String {
    let mut out = String::new();
    freeze(&mut out, v);
    out
}

/// The chart curve a row is drawn on (`_matrix_visual_series_key`).
fn visual_series_key(row: &Dict) -> Result<String, ChangelogError> {
    let get = |k: &str| row.get(k).cloned().unwrap_or(Value::Null);
    let is_agentic = row
        .get("scenario-type")
        .is_some_and(|v| eq(v, &Value::from("agentic-coding")));
    let kv = row
        .get("kv-offloading")
        .cloned()
        .unwrap_or(Value::from("none"));
    let offload_off = [Value::Null, Value::from(""), Value::from("none")]
        .iter()
        .any(|off| eq(&kv, off));
    let hardware = |k: &str| -> Result<Value, ChangelogError> {
        match row.get(k) {
            Some(Value::Dict(d)) => Ok(d.get("hardware").cloned().unwrap_or(Value::Null)),
            Some(v) if v.is_truthy() => Err(ChangelogError::InvalidRow {
                section: "append-only".into(),
                index: 0,
                message: format!("'{k}' is a {}, not a mapping", v.type_name()),
            }),
            _ => Ok(Value::Null),
        }
    };
    let fixed_only = |v: Value| if is_agentic { Value::Null } else { v };
    let key = Value::List(vec![
        get("model"),
        get("model-prefix"),
        get("precision"),
        get("framework"),
        get("runner"),
        Value::Bool(row.get("disagg").is_some_and(Value::is_truthy)),
        Value::from(if is_agentic {
            "agentic_traces"
        } else {
            "single_turn"
        }),
        fixed_only(get("isl")),
        fixed_only(get("osl")),
        Value::from(if offload_off { "off" } else { "on" }),
        if is_agentic {
            Value::from("")
        } else {
            row.get("spec-decoding")
                .cloned()
                .unwrap_or(Value::from("none"))
        },
        hardware("prefill")?,
        hardware("decode")?,
    ]);
    Ok(frozen(&key))
}

/// Checks that an append-only PR changed nothing outside the selected
/// configs and scenarios. `selected` holds each selected config (in order)
/// with the scenario names its entries select.
pub fn validate_append_only_scope(
    base: &Dict,
    head: &Dict,
    selected: &[(String, Vec<Scenario>)],
) -> Result<(), ChangelogError> {
    let is_selected = |k: &str| selected.iter().any(|(c, _)| c == k);
    let null = Value::Null;
    let mut unrelated: Vec<String> = base
        .keys()
        .chain(head.keys().filter(|k| !base.contains_key(k)))
        .filter(|k| !is_selected(k))
        .filter(|k| !eq(base.get(k).unwrap_or(&null), head.get(k).unwrap_or(&null)))
        .map(str::to_owned)
        .collect();
    if !unrelated.is_empty() {
        unrelated.sort();
        return Err(ChangelogError::UnselectedConfigsChanged(unrelated));
    }
    for (config, allowed) in selected {
        let base_config = mapping(config, base.get(config))?;
        let head_config = mapping(config, head.get(config))?;
        let empty = Dict::new();
        let scenarios = |c: &'_ Dict| -> Result<Dict, ChangelogError> {
            match c.get("scenarios") {
                None => Ok(empty.clone()),
                Some(Value::Dict(d)) => Ok(d.clone()),
                Some(other) => Err(ChangelogError::InvalidConfig {
                    key: config.clone(),
                    message: format!("scenarios: expected a mapping, got {}", other.type_name()),
                }),
            }
        };
        let base_scenarios = scenarios(base_config)?;
        let head_scenarios = scenarios(head_config)?;
        let names = |d: &Dict| d.keys().map(str::to_owned).collect::<BTreeSet<String>>();
        if names(&base_scenarios) != names(&head_scenarios) {
            return Err(ChangelogError::ScenarioSetChanged(config.clone()));
        }
        let is_allowed = |s: &str| allowed.iter().any(|a| a.as_str() == s);
        let has_unselected = base_scenarios.keys().any(|s| !is_allowed(s));
        let top = |c: &Dict| -> Dict {
            c.iter()
                .filter(|(k, _)| *k != "scenarios")
                .map(|(k, v)| (k, v.clone()))
                .collect()
        };
        if has_unselected
            && !eq(
                &Value::Dict(top(base_config)),
                &Value::Dict(top(head_config)),
            )
        {
            return Err(ChangelogError::TopLevelChanged(config.clone()));
        }
        for (scenario, value) in base_scenarios.iter() {
            if !is_allowed(scenario) && !eq(value, head_scenarios.get(scenario).unwrap_or(&null)) {
                return Err(ChangelogError::UnselectedScenarioChanged {
                    config: config.clone(),
                    scenario: scenario.to_owned(),
                });
            }
        }
    }
    Ok(())
}

fn mapping<'a>(key: &str, v: Option<&'a Value>) -> Result<&'a Dict, ChangelogError> {
    match v {
        Some(Value::Dict(d)) => Ok(d),
        other => Err(ChangelogError::InvalidConfig {
            key: key.to_owned(),
            message: format!(
                "expected a mapping, got {}",
                other.map_or("nothing", Value::type_name)
            ),
        }),
    }
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

    const IMG: &str = r#""image": "i1", "model": "m", "runner": "r""#;

    #[test]
    fn only_new_single_node_points_are_kept_once() {
        let base = rows(&format!(
            r#"[{{{IMG}, "tp": 2, "conc": 4}}, {{{IMG}, "tp": 2, "conc": 8}}]"#
        ));
        let head = rows(&format!(
            r#"[{{{IMG}, "tp": 2, "conc": 4}}, {{{IMG}, "tp": 2, "conc": 8}}, {{{IMG}, "tp": 2, "conc": 16}}, {{{IMG}, "tp": 2, "conc": 16, "exp-name": "again"}}, {{{IMG}, "tp": 4, "conc": 4}}]"#
        ));
        assert_eq!(
            text(&append_only_delta(&base, &head).unwrap()),
            format!(r#"[{{{IMG}, "tp": 2, "conc": 16}}, {{{IMG}, "tp": 4, "conc": 4}}]"#)
        );
    }

    #[test]
    fn multi_node_lists_are_sliced_to_their_new_values() {
        let p = r#""prefill": {"tp": 4}, "decode": {"tp": 8}"#;
        let base = rows(&format!(r#"[{{{IMG}, {p}, "conc": [8, 16]}}]"#));
        let head = rows(&format!(
            r#"[{{{IMG}, {p}, "conc": [32, 8, 16, 64]}}, {{{IMG}, {p}, "conc": [64, 128]}}]"#
        ));
        assert_eq!(
            text(&append_only_delta(&base, &head).unwrap()),
            format!(r#"[{{{IMG}, {p}, "conc": [32, 64]}}, {{{IMG}, {p}, "conc": [128]}}]"#)
        );
    }

    #[test]
    fn changes_to_existing_points_are_refused() {
        let base = rows(&format!(
            r#"[{{{IMG}, "tp": 2, "conc": 4}}, {{{IMG}, "tp": 2, "conc": 128}}]"#
        ));
        let check = |head: &str| {
            append_only_delta(&base, &rows(head))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            check(&format!(
                r#"[{{{IMG}, "tp": 2, "conc": 4}}, {{{IMG}, "tp": 2, "conc": 256}}]"#
            )),
            "append-only may not remove existing concurrency points: [128]"
        );
        assert_eq!(
            check(&format!(r#"[{{{IMG}, "tp": 4, "conc": 4}}]"#)),
            "append-only may not remove or modify existing generated recipes"
        );
        assert_eq!(
            check(&format!(
                r#"[{{{IMG}, "tp": 2, "conc": 4}}, {{{IMG}, "tp": 2, "conc": 128}}]"#
            )),
            "append-only did not add any generated points"
        );
        // A new recipe whose image differs from its curve's.
        let head = format!(
            r#"[{{{IMG}, "tp": 2, "conc": 4}}, {{{IMG}, "tp": 2, "conc": 128}}, {{"image": "i2", "model": "m", "runner": "r", "tp": 2, "conc": 4}}]"#
        );
        assert!(check(&head)
            .starts_with("append-only additions must belong to an existing visual curve"));
        // A new model has no base curve.
        let head = format!(
            r#"[{{{IMG}, "tp": 2, "conc": 4}}, {{{IMG}, "tp": 2, "conc": 128}}, {{"image": "i1", "model": "other", "runner": "r", "tp": 2, "conc": 4}}]"#
        );
        assert!(check(&head).starts_with("append-only additions must belong"));
        assert_eq!(
            append_only_delta(&[], &base).unwrap_err().to_string(),
            "append-only requires an existing curve in the base revision"
        );
        let bad = rows(r#"[{"conc": "4"}]"#);
        assert!(matches!(
            append_only_delta(&bad, &bad),
            Err(ChangelogError::InvalidConcurrency(_))
        ));
    }

    fn dict(json: &str) -> Dict {
        match servebench_pyjson::from_str(json).unwrap() {
            Value::Dict(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scope_limits_changes_to_selected_configs_and_scenarios() {
        let base = dict(
            r#"{"a": {"image": "x", "scenarios": {"fixed-seq-len": [1], "agentic-coding": [2]}}, "b": {"image": "y"}}"#,
        );
        let fixed = vec![("a".to_owned(), vec![Scenario::FixedSeqLen])];
        let both = vec![("a".to_owned(), Scenario::ALL.to_vec())];
        let check = |head: &str, sel: &[(String, Vec<Scenario>)]| {
            validate_append_only_scope(&base, &dict(head), sel).map_err(|e| e.to_string())
        };
        assert_eq!(
            check(
                r#"{"a": {"image": "x", "scenarios": {"fixed-seq-len": [1, 3], "agentic-coding": [2]}}, "b": {"image": "y"}}"#,
                &fixed
            ),
            Ok(())
        );
        assert_eq!(
            check(
                r#"{"a": {"image": "x", "scenarios": {"fixed-seq-len": [1], "agentic-coding": [2]}}, "b": {"image": "z"}, "c": 1}"#,
                &fixed
            ),
            Err(
                "append-only PR changed configs not selected by its changelog entry: ['b', 'c']"
                    .into()
            )
        );
        assert_eq!(
            check(
                r#"{"a": {"image": "x", "scenarios": {"fixed-seq-len": [1]}}, "b": {"image": "y"}}"#,
                &both
            ),
            Err("append-only added or removed a scenario in config 'a'".into())
        );
        assert!(check(r#"{"a": {"image": "x2", "scenarios": {"fixed-seq-len": [1], "agentic-coding": [2]}}, "b": {"image": "y"}}"#, &fixed)
            .is_err_and(|e| e.starts_with("append-only changed config-wide fields")));
        assert_eq!(
            check(
                r#"{"a": {"image": "x2", "scenarios": {"fixed-seq-len": [1], "agentic-coding": [2]}}, "b": {"image": "y"}}"#,
                &both
            ),
            Ok(())
        );
        assert_eq!(
            check(r#"{"a": {"image": "x", "scenarios": {"fixed-seq-len": [1], "agentic-coding": [2.0, 5]}}, "b": {"image": "y"}}"#, &fixed),
            Err("append-only changed a scenario outside its changelog scope: 'a' / 'agentic-coding'".into())
        );
        // Python equality: 2 == 2.0, key order does not matter.
        assert_eq!(
            check(
                r#"{"b": {"image": "y"}, "a": {"scenarios": {"agentic-coding": [2.0], "fixed-seq-len": [1]}, "image": "x"}}"#,
                &fixed
            ),
            Ok(())
        );
    }
}
