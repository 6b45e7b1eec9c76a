//! Injected faults, chosen per request (`x-sim-fault` header) or for every
//! N-th request (`--fault`, `--fault-every`).
//!
//! Spellings: `status=503` (also 500, 429, any 4xx/5xx), `cut=N` (end the
//! stream cleanly after N tokens, no usage chunk, no `[DONE]`), `stall=N:MS`
//! (pause MS milliseconds after N tokens), `malformed=N` (after N tokens send
//! a frame that is not JSON, then end), `reset=N` (abort the connection
//! after N tokens), `slow-first-byte=MS` (hold the response headers MS
//! milliseconds).

use std::time::Duration;

/// A fault to inject. Spelled `status=CODE`, `cut=N`, `stall=N:MS`,
/// `malformed=N`, `reset=N` or `slow-first-byte=MS` (its [`FromStr`](std::str::FromStr)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Status(u16),
    Cut { after: usize },
    Stall { after: usize, pause: Duration },
    Malformed { after: usize },
    Reset { after: usize },
    SlowFirstByte(Duration),
}

impl Fault {
    /// The label counted in `/metrics`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Status(_) => "status",
            Fault::Cut { .. } => "cut",
            Fault::Stall { .. } => "stall",
            Fault::Malformed { .. } => "malformed",
            Fault::Reset { .. } => "reset",
            Fault::SlowFirstByte(_) => "slow_first_byte",
        }
    }

    pub const KINDS: [&'static str; 6] = [
        "status",
        "cut",
        "stall",
        "malformed",
        "reset",
        "slow_first_byte",
    ];
}

impl std::str::FromStr for Fault {
    type Err = crate::SimError;

    /// Parses one spelling (see the [`Fault`] variants); anything else is
    /// [`SimError::Fault`](crate::SimError::Fault).
    fn from_str(spec: &str) -> Result<Self, crate::SimError> {
        let bad = || crate::SimError::Fault(spec.to_owned());
        let (name, arg) = spec.trim().split_once('=').ok_or_else(bad)?;
        let n = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
        let ms = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| bad())
        };
        match name.trim() {
            "status" => match arg.trim().parse::<u16>() {
                Ok(code) if (400..600).contains(&code) => Ok(Fault::Status(code)),
                _ => Err(bad()),
            },
            "cut" => Ok(Fault::Cut { after: n(arg)? }),
            "stall" => {
                let (after, pause) = arg.split_once(':').ok_or_else(bad)?;
                Ok(Fault::Stall {
                    after: n(after)?,
                    pause: ms(pause)?,
                })
            }
            "malformed" => Ok(Fault::Malformed { after: n(arg)? }),
            "reset" => Ok(Fault::Reset { after: n(arg)? }),
            "slow-first-byte" => Ok(Fault::SlowFirstByte(ms(arg)?)),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;
    use std::time::Duration;

    #[test]
    fn spellings() {
        assert_eq!("status=503".parse().ok(), Some(Fault::Status(503)));
        assert_eq!(
            "stall=3:250".parse().ok(),
            Some(Fault::Stall {
                after: 3,
                pause: Duration::from_millis(250)
            })
        );
        assert_eq!(" reset = 2 ".parse().ok(), Some(Fault::Reset { after: 2 }));
        assert_eq!(
            "slow-first-byte=40".parse().ok(),
            Some(Fault::SlowFirstByte(Duration::from_millis(40)))
        );
        for bad in ["status=200", "cut", "stall=3", "boom=1", "cut=-1"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
        assert_eq!(
            "boom=1".parse::<Fault>().unwrap_err().to_string(),
            "invalid fault \"boom=1\" (status=CODE, cut=N, stall=N:MS, malformed=N, reset=N, slow-first-byte=MS)"
        );
    }
}
