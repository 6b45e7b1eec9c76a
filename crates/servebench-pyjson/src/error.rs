//! The crate's one error type.

/// What Python would have raised: `json.loads`' `JSONDecodeError`, or a
/// `TypeError` (or overflow) of one of the operators ([`lt`](crate::lt),
/// [`add`](crate::add), ...), reported instead of crashing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PyjsonError {
    /// [`from_str`](crate::from_str): why the document is not JSON, with the
    /// 1-based line and column.
    #[error("{message}: line {line} column {column}")]
    Json {
        message: String,
        line: usize,
        column: usize,
    },
    /// A Python `TypeError` (or overflow) while evaluating an expression:
    /// `'<' not supported between instances of 'str' and 'int'`.
    #[error("{0}")]
    Type(String),
}
