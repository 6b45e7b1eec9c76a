//! The changelog additions: which lines a diff adds, and the entries they
//! hold (`ChangelogEntry` of `validation.py`).

use crate::{lax, ChangelogError};
use servebench_pyjson::{Dict, Value};

/// A scenario type of the master configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scenario {
    FixedSeqLen,
    AgenticCoding,
}

impl Scenario {
    /// Both types, in the order the original generates them.
    pub const ALL: [Scenario; 2] = [Scenario::FixedSeqLen, Scenario::AgenticCoding];

    /// The name in configs and on the generator's command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::FixedSeqLen => "fixed-seq-len",
            Scenario::AgenticCoding => "agentic-coding",
        }
    }

    fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One changelog entry, validated and with its defaults filled in.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChangelogEntry {
    pub config_keys: Vec<String>,
    pub description: Vec<String>,
    pub pr_link: String,
    pub evals_only: bool,
    pub all_evals: bool,
    pub append_only: bool,
    pub eval_min_prefill_ep: Option<i128>,
    pub scenario_type: Option<Vec<Scenario>>,
}

const FIELDS: [&str; 8] = [
    "config-keys",
    "description",
    "pr-link",
    "evals-only",
    "all-evals",
    "append-only",
    "eval-min-prefill-ep",
    "scenario-type",
];

impl ChangelogEntry {
    /// Validates one entry as pydantic does (lax types, unknown keys
    /// refused); the error lists every problem as `field: message`.
    pub fn from_value(v: &Value) -> Result<ChangelogEntry, Vec<String>> {
        let Some(d) = v.as_dict() else {
            return Err(vec![format!(
                "Input should be a valid dictionary or instance of ChangelogEntry, got {}",
                v.type_name()
            )]);
        };
        let mut issues = Vec::new();
        let mut field = |name: &str, r: Result<(), String>| {
            if let Err(e) = r {
                issues.push(format!("{name}: {e}"));
            }
        };
        let required = |name: &str| -> Result<&Value, String> {
            d.get(name).ok_or_else(|| "Field required".to_owned())
        };
        let non_empty = |list: Vec<String>| {
            if list.is_empty() {
                Err("List should have at least 1 item after validation, not 0".to_owned())
            } else {
                Ok(list)
            }
        };

        let mut config_keys = Vec::new();
        field(
            "config-keys",
            required("config-keys")
                .and_then(lax::string_list)
                .and_then(non_empty)
                .map(|v| config_keys = v),
        );
        let mut description = Vec::new();
        field(
            "description",
            required("description")
                .and_then(lax::string_list)
                .and_then(non_empty)
                .map(|v| description = v),
        );
        let mut pr_link = String::new();
        field(
            "pr-link",
            required("pr-link")
                .and_then(|v| lax::string(v).map(str::to_owned))
                .map(|v| pr_link = v),
        );
        let mut flags = [false; 3];
        for (slot, name) in flags
            .iter_mut()
            .zip(["evals-only", "all-evals", "append-only"])
        {
            if let Some(v) = d.get(name) {
                field(name, lax::bool(v).map(|b| *slot = b));
            }
        }
        let mut eval_min_prefill_ep = None;
        if let Some(v) = d.get("eval-min-prefill-ep").filter(|v| **v != Value::Null) {
            let checked = lax::int(v).and_then(|i| {
                if i >= 1 {
                    Ok(i)
                } else {
                    Err("Input should be greater than or equal to 1".to_owned())
                }
            });
            field(
                "eval-min-prefill-ep",
                checked.map(|i| eval_min_prefill_ep = Some(i)),
            );
        }
        let mut scenario_type = None;
        if let Some(v) = d.get("scenario-type").filter(|v| **v != Value::Null) {
            field(
                "scenario-type",
                scenarios(v).map(|s| scenario_type = Some(s)),
            );
        }
        for key in d.keys() {
            if !FIELDS.contains(&key) {
                issues.push(format!("{key}: Extra inputs are not permitted"));
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let [evals_only, all_evals, append_only] = flags;
        if append_only && (evals_only || all_evals || eval_min_prefill_ep.is_some()) {
            return Err(vec![
                "Value error, append-only cannot be combined with eval selection fields".into(),
            ]);
        }
        Ok(ChangelogEntry {
            config_keys,
            description,
            pr_link,
            evals_only,
            all_evals,
            append_only,
            eval_min_prefill_ep,
            scenario_type,
        })
    }

    /// The entry as the output model dumps it (`by_alias`, `exclude_none`).
    pub fn to_value(&self) -> Value {
        let strings =
            |v: &[String]| Value::List(v.iter().map(|s| Value::from(s.as_str())).collect());
        let mut d = Dict::new();
        d.insert("config-keys", strings(&self.config_keys));
        d.insert("description", strings(&self.description));
        d.insert("pr-link", Value::from(self.pr_link.as_str()));
        d.insert("evals-only", Value::Bool(self.evals_only));
        d.insert("all-evals", Value::Bool(self.all_evals));
        d.insert("append-only", Value::Bool(self.append_only));
        if let Some(ep) = self.eval_min_prefill_ep {
            d.insert("eval-min-prefill-ep", Value::Int(ep));
        }
        if let Some(types) = &self.scenario_type {
            d.insert(
                "scenario-type",
                Value::List(types.iter().map(|s| Value::from(s.as_str())).collect()),
            );
        }
        Value::Dict(d)
    }

    /// The scenarios this entry asks for: its `scenario-type`, or both.
    pub fn scenarios(&self) -> Vec<Scenario> {
        self.scenario_type
            .clone()
            .unwrap_or_else(|| Scenario::ALL.to_vec())
    }
}

fn scenarios(v: &Value) -> Result<Vec<Scenario>, String> {
    let items = v
        .as_list()
        .ok_or_else(|| format!("Input should be a valid list, got {}", v.type_name()))?;
    if items.is_empty() {
        return Err("List should have at least 1 item after validation, not 0".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .and_then(Scenario::from_name)
                .ok_or_else(|| format!("{i}: Input should be 'fixed-seq-len' or 'agentic-coding'"))
        })
        .collect()
}

/// The lines a `git diff` adds, joined with `\n`. A removed line that is not
/// blank is an error: the changelog is append-only.
pub fn added_lines(diff: &str, path: &str) -> Result<String, ChangelogError> {
    let mut added = Vec::new();
    for line in diff.split('\n') {
        if let Some(deleted) = line.strip_prefix('-') {
            if !line.starts_with("---") && !deleted.trim().is_empty() {
                return Err(ChangelogError::Deletion {
                    path: path.to_owned(),
                    line: deleted.to_owned(),
                });
            }
        } else if let Some(content) = line.strip_prefix('+') {
            if !line.starts_with("+++") {
                added.push(content);
            }
        }
    }
    Ok(added.join("\n"))
}

/// The entries of the added YAML text.
pub fn parse_entries(added: &str) -> Result<Vec<ChangelogEntry>, ChangelogError> {
    if added.trim().is_empty() {
        return Err(ChangelogError::NoAdditions);
    }
    let doc = servebench_yaml::parse(added).map_err(ChangelogError::Yaml)?;
    if !doc.is_truthy() {
        return Err(ChangelogError::NoEntries);
    }
    let Value::List(items) = doc else {
        return Err(ChangelogError::NotAList {
            found: doc.type_name(),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            ChangelogEntry::from_value(item).map_err(|issues| ChangelogError::InvalidEntry {
                index: i + 1,
                issues,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(yaml: &str) -> Result<ChangelogEntry, Vec<String>> {
        ChangelogEntry::from_value(&servebench_yaml::parse(yaml).unwrap())
    }

    const MIN: &str = "config-keys: [a]\ndescription: [d]\npr-link: x\n";

    #[test]
    fn added_lines_skip_headers_and_allow_blank_deletions() {
        let diff = "diff --git a/c.yaml b/c.yaml\n--- a/c.yaml\n+++ b/c.yaml\n@@ -1,2 +1,3 @@\n a\n-\n-   \n+- x\n+  y\n";
        assert_eq!(added_lines(diff, "c.yaml").unwrap(), "- x\n  y");
    }

    #[test]
    fn a_deleted_line_with_content_is_an_error() {
        let err = added_lines("--- a/c\n+++ b/c\n-  old\n+new\n", "c").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Deletions are not allowed in c. Only additions to the changelog are permitted. Found deleted line:   old"
        );
    }

    #[test]
    fn no_additions_and_empty_yaml_are_errors() {
        assert!(matches!(
            parse_entries(" \n"),
            Err(ChangelogError::NoAdditions)
        ));
        assert!(matches!(
            parse_entries("# only a comment"),
            Err(ChangelogError::NoEntries)
        ));
        assert!(matches!(
            parse_entries("[]"),
            Err(ChangelogError::NoEntries)
        ));
        assert!(matches!(
            parse_entries("a: 1"),
            Err(ChangelogError::NotAList { found: "dict" })
        ));
        assert!(matches!(
            parse_entries("- [unclosed"),
            Err(ChangelogError::Yaml(_))
        ));
    }

    #[test]
    fn defaults_are_filled_and_dumped_in_model_order() {
        let e = entry(&format!("pr-link: x\n{MIN}")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            servebench_pyjson::to_string(&e.to_value()),
            r#"{"config-keys": ["a"], "description": ["d"], "pr-link": "x", "evals-only": false, "all-evals": false, "append-only": false}"#
        );
        assert_eq!(e.scenarios(), Scenario::ALL.to_vec());
    }

    #[test]
    fn loose_values_are_normalised() {
        let e = entry(&format!(
            "{MIN}evals-only: 'yes'\neval-min-prefill-ep: '4'\nscenario-type: [agentic-coding]\n"
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(e.evals_only);
        assert_eq!(e.eval_min_prefill_ep, Some(4));
        assert_eq!(e.scenarios(), vec![Scenario::AgenticCoding]);
        let e = entry(&format!(
            "{MIN}eval-min-prefill-ep: null\nscenario-type: null\n"
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((e.eval_min_prefill_ep, e.scenario_type), (None, None));
    }

    #[test]
    fn schema_violations_are_all_reported() {
        let issues = entry("config-keys: []\ndescription: d\nrun-evals: true\nevals-only: null\n")
            .unwrap_err();
        let text = issues.join("\n");
        for want in [
            "config-keys: List should have at least 1 item",
            "description: Input should be a valid list",
            "pr-link: Field required",
            "evals-only: Input should be a valid boolean",
            "run-evals: Extra inputs are not permitted",
        ] {
            assert!(text.contains(want), "{want} not in {text}");
        }
        for bad in [
            "eval-min-prefill-ep: 0",
            "scenario-type: []",
            "scenario-type: [both]",
            "config-keys: [1]\n",
        ] {
            assert!(entry(&format!("{MIN}{bad}\n")).is_err(), "{bad}");
        }
        assert!(entry("- a").is_err());
    }

    #[test]
    fn append_only_excludes_eval_selection() {
        for extra in [
            "evals-only: true",
            "all-evals: true",
            "eval-min-prefill-ep: 2",
        ] {
            let issues = entry(&format!("{MIN}append-only: true\n{extra}\n")).unwrap_err();
            assert!(
                issues[0].contains("append-only cannot be combined"),
                "{issues:?}"
            );
        }
        assert!(entry(&format!("{MIN}append-only: true\n")).is_ok_and(|e| e.append_only));
    }

    #[test]
    fn entry_numbers_are_one_based_in_errors() {
        let err = parse_entries(&format!("- {}\n- bad: 1\n", MIN.replace('\n', "\n  ")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("changelog entry 2 failed validation"),
            "{err}"
        );
    }
}
