//! Which edition of the InferenceX contract the tools follow.
//!
//! servebench is a drop-in for InferenceX as it was at two commits: edition
//! `2026-02` (commit `7da2926f8`) and edition `2026-08` (commit `843c6254f`,
//! the newest). A workflow pins one with the environment variable
//! `INFERENCEX_CONTRACT`; unset means the newest. This crate owns that
//! switch and nothing else: the variable is read here, in one place, and
//! libraries take an [`Edition`] as a parameter instead of looking at the
//! environment themselves.
//!
//! ```
//! use servebench_contract::Edition;
//! assert_eq!(Edition::parse(None).unwrap(), Edition::NEWEST);
//! assert_eq!(Edition::parse(Some("2026-02")).unwrap(), Edition::E2026_02);
//! assert!(Edition::parse(Some("2026-13")).is_err());
//! ```
#![warn(unreachable_pub)]

use std::fmt;

/// The environment variable that selects the edition.
pub const ENV_VAR: &str = "INFERENCEX_CONTRACT";

/// An edition of the InferenceX contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Edition {
    /// InferenceX at commit `7da2926f8` (2026-02-19).
    E2026_02,
    /// InferenceX at commit `843c6254f` (2026-08-21).
    E2026_08,
}

/// `INFERENCEX_CONTRACT` holds something that is not an edition.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditionError {
    /// A value that names no edition.
    #[error("{ENV_VAR}={0:?} is not a contract edition: use 2026-02 or 2026-08 (unset means 2026-08, the newest)")]
    Unknown(String),
    /// A value that is not Unicode.
    #[error(
        "{ENV_VAR} is not valid Unicode: use 2026-02 or 2026-08 (unset means 2026-08, the newest)"
    )]
    NotUnicode,
}

impl Edition {
    /// The edition used when `INFERENCEX_CONTRACT` is unset.
    pub const NEWEST: Edition = Edition::E2026_08;
    /// Every edition, oldest first.
    pub const ALL: [Edition; 2] = [Edition::E2026_02, Edition::E2026_08];

    /// The edition a value of `INFERENCEX_CONTRACT` names (`None`: unset,
    /// the newest). An empty value counts as unset, as a workflow's
    /// `env: {INFERENCEX_CONTRACT: ""}` means "no pin".
    pub fn parse(value: Option<&str>) -> Result<Edition, EditionError> {
        match value {
            None | Some("") => Ok(Edition::NEWEST),
            Some(v) => Edition::ALL
                .into_iter()
                .find(|e| e.as_str() == v)
                .ok_or_else(|| EditionError::Unknown(v.to_owned())),
        }
    }

    /// The edition of this process's environment.
    pub fn from_env() -> Result<Edition, EditionError> {
        match std::env::var(ENV_VAR) {
            Ok(v) => Edition::parse(Some(&v)),
            Err(std::env::VarError::NotPresent) => Ok(Edition::NEWEST),
            Err(std::env::VarError::NotUnicode(_)) => Err(EditionError::NotUnicode),
        }
    }

    /// The edition's name, as `INFERENCEX_CONTRACT` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Edition::E2026_02 => "2026-02",
            Edition::E2026_08 => "2026-08",
        }
    }

    /// The InferenceX commit the edition describes.
    pub fn commit(self) -> &'static str {
        match self {
            Edition::E2026_02 => "7da2926f8",
            Edition::E2026_08 => "843c6254f",
        }
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool that exists in only some editions, run under another: the
/// message it exits with (status 1).
pub fn not_in_edition(tool: &str, edition: Edition, exists_in: &[Edition]) -> String {
    let names: Vec<&str> = exists_in.iter().map(|e| e.as_str()).collect();
    format!(
        "{tool} belongs to InferenceX contract edition {} and does not exist in edition {edition} ({ENV_VAR}={edition}); unset {ENV_VAR} or set it to {}",
        names.join(" and "),
        names.last().copied().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_values_name_the_choices() {
        for e in Edition::ALL {
            assert_eq!(Edition::parse(Some(e.as_str())), Ok(e));
        }
        assert_eq!(Edition::parse(Some("")), Ok(Edition::NEWEST));
        let err = Edition::parse(Some("2026-8")).unwrap_err().to_string();
        assert!(
            err.contains("\"2026-8\"") && err.contains("2026-02 or 2026-08"),
            "{err}"
        );
    }

    #[test]
    fn the_message_for_a_tool_of_another_edition_says_how_to_switch() {
        let m = not_in_edition("process_changelog", Edition::E2026_02, &[Edition::E2026_08]);
        assert!(
            m.contains("edition 2026-08") && m.contains("INFERENCEX_CONTRACT=2026-02"),
            "{m}"
        );
    }
}
