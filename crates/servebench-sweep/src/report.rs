//! The self-contained HTML report of a sweep.

use serde_json::Value;

/// How one sweep entry ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryStatus {
    Ok,
    /// `stage`: "server", "benchmark", "process_result", ...
    Failed { stage: String, message: String },
}

/// One sweep entry as the report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRecord {
    /// The workflow's RESULT_FILENAME for this entry.
    pub name: String,
    /// The matrix entry's `exp-name` (e.g. `dense8b_1k1k`).
    pub exp_name: String,
    /// The matrix entry as generate_sweep_configs printed it.
    pub entry: Value,
    pub status: EntryStatus,
    /// The agg record process_result wrote (present when it succeeded).
    pub agg: Option<Value>,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    pub title: &'a str,
    pub run_id: &'a str,
    pub entries: &'a [EntryRecord],
    /// `summarize`'s markdown.
    pub summary_markdown: &'a str,
}

pub fn render(input: &ReportInput<'_>) -> String {
    let _ = input;
    String::new()
}
