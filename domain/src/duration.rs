//! Lengths of time as clients write them: ISO 8601 durations (`PT2H`,
//! `P1DT30M`, `PT90S`), whole seconds only, so a grace period or cooling-off
//! delay reads the same in a request, an audit record and the schema.

use crate::error::ParseError;
use chrono::Duration;

/// A non-negative ISO 8601 duration of whole days, hours, minutes and seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsoDuration(i64);

impl IsoDuration {
    /// Parses `P[nD][T[nH][nM][nS]]`; years, months and weeks are refused
    /// because their length in seconds depends on the calendar.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new(field, "must be an ISO 8601 duration such as PT2H, PT30M or P1D");
        let rest = raw.strip_prefix('P').ok_or_else(bad)?;
        let (date, time) = match rest.split_once('T') {
            Some((d, t)) if !t.is_empty() => (d, Some(t)),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        if date.is_empty() && time.is_none() {
            return Err(bad());
        }
        let mut secs: i64 = 0;
        for (part, units) in
            [(date, &[('D', 86_400)][..]), (time.unwrap_or(""), &[('H', 3_600), ('M', 60), ('S', 1)][..])]
        {
            let mut digits = String::new();
            let mut allowed = units.iter();
            for c in part.chars() {
                if c.is_ascii_digit() {
                    digits.push(c);
                    continue;
                }
                // Units must come in order, each once, each after a number.
                let (_, scale) = allowed.by_ref().find(|(u, _)| *u == c).ok_or_else(bad)?;
                if digits.is_empty() || digits.len() > 9 {
                    return Err(bad());
                }
                let n: i64 = digits.parse().map_err(|_| bad())?;
                secs = n.checked_mul(*scale).and_then(|v| secs.checked_add(v)).ok_or_else(bad)?;
                digits.clear();
            }
            if !digits.is_empty() {
                return Err(bad());
            }
        }
        Ok(Self(secs))
    }

    pub fn from_secs(secs: i64) -> Self {
        Self(secs.max(0))
    }

    pub fn secs(self) -> i64 {
        self.0
    }

    pub fn to_chrono(self) -> Duration {
        Duration::seconds(self.0)
    }

    /// `PT{n}S`: the canonical form this service writes back.
    pub fn to_iso(self) -> String {
        format!("PT{}S", self.0)
    }

    /// Refuses a duration longer than `max`.
    pub fn at_most(self, field: &'static str, max: IsoDuration, what: &str) -> Result<Self, ParseError> {
        if self > max { Err(ParseError::new(field, format!("must be at most {what}"))) } else { Ok(self) }
    }
}

#[cfg(test)]
mod tests {
    use super::IsoDuration;

    #[test]
    fn parses_days_hours_minutes_seconds() {
        for (raw, secs) in
            [("PT2H", 7200), ("PT30M", 1800), ("PT90S", 90), ("P1D", 86_400), ("P1DT1H1M1S", 90_061), ("PT0S", 0)]
        {
            assert_eq!(IsoDuration::parse("d", raw).unwrap().secs(), secs, "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_plain_duration() {
        for raw in [
            "",
            "P",
            "PT",
            "2H",
            "PT2",
            "PTH",
            "P1Y",
            "P1W",
            "PT1M2H",
            "PT1H1H",
            "-PT1H",
            "PT1.5H",
            "P1DT",
            "pt1h",
            "PT9999999999S",
        ] {
            assert!(IsoDuration::parse("d", raw).is_err(), "{raw}");
        }
    }
}
