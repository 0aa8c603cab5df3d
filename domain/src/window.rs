//! An organisation's withdrawal window: the weekdays and hours, in a named
//! time zone, when withdrawals may be made (e.g. Monday to Friday, 08:00 to
//! 18:00 `Europe/Zurich`), and what happens to one made outside them.

use crate::error::ParseError;
use crate::vocabulary::vocabulary;
use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// What a withdrawal made outside the window gets.
    pub enum OutsideWindow {
        /// Refused with `OUTSIDE_WINDOW`.
        Refuse => "REFUSE",
        /// Accepted, but waits for approval even where it would not otherwise.
        RequireApproval => "REQUIRE_APPROVAL",
    }
}

/// A parsed window; stored as JSON on the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawalWindow {
    pub time_zone: Tz,
    /// Weekdays, Monday first, each once.
    pub days: Vec<Weekday>,
    /// Local opening time, inclusive.
    pub opens: NaiveTime,
    /// Local closing time, exclusive; after `opens` (the window does not span midnight).
    pub closes: NaiveTime,
    pub outside: OutsideWindow,
}

impl WithdrawalWindow {
    /// Parses a window as clients send it: an IANA zone name, weekdays, `HH:MM` times.
    pub fn parse(
        time_zone: &str,
        days: &[Weekday],
        opens: &str,
        closes: &str,
        outside: OutsideWindow,
    ) -> Result<Self, ParseError> {
        let time_zone: Tz = time_zone
            .parse()
            .map_err(|_| ParseError::new("timeZone", "must be an IANA time zone name such as Europe/Zurich"))?;
        if days.is_empty() {
            return Err(ParseError::new("days", "must name at least one weekday"));
        }
        let mut sorted: Vec<Weekday> = days.to_vec();
        sorted.sort_by_key(Weekday::num_days_from_monday);
        sorted.dedup();
        let opens = hhmm("opens", opens)?;
        let closes = if closes == "24:00" {
            NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)
        } else {
            Some(hhmm("closes", closes)?)
        }
        .ok_or_else(|| ParseError::new("closes", "must be HH:MM"))?;
        if closes <= opens {
            return Err(ParseError::new("closes", "must be after opens (a window cannot span midnight)"));
        }
        Ok(Self { time_zone, days: sorted, opens, closes, outside })
    }

    pub fn from_stored(s: &str) -> Result<Self, ParseError> {
        serde_json::from_str(s).map_err(|e| ParseError::new("withdrawalWindow", e.to_string()))
    }

    pub fn to_stored(&self) -> String {
        // A struct of plain fields always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether `at` falls inside the window, in the window's own time zone
    /// (so daylight-saving changes move it with the local clock).
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.time_zone);
        self.days.contains(&local.weekday()) && self.opens <= local.time() && local.time() < self.closes
    }

    /// A sentence for refusals and notices, e.g. `Mon–Fri 08:00–18:00 Europe/Zurich`.
    pub fn describe(&self) -> String {
        let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
        format!("{} {}–{} {}", days.join(","), self.opens.format("%H:%M"), self.closes.format("%H:%M"), self.time_zone)
    }
}

fn hhmm(field: &'static str, s: &str) -> Result<NaiveTime, ParseError> {
    let bad = || ParseError::new(field, "must be HH:MM");
    if s.len() != 5 || s.as_bytes()[2] != b':' {
        return Err(bad());
    }
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn office() -> WithdrawalWindow {
        let weekdays = [Weekday::Fri, Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Mon];
        WithdrawalWindow::parse("Europe/Zurich", &weekdays, "08:00", "18:00", OutsideWindow::Refuse).unwrap()
    }

    #[test]
    fn follows_the_local_clock_across_daylight_saving() {
        let w = office();
        assert_eq!(w.days.len(), 5, "sorted and deduplicated");
        // Winter: Zurich is UTC+1. Monday 2026-01-05 07:00 UTC = 08:00 local.
        assert!(w.contains(Utc.with_ymd_and_hms(2026, 1, 5, 7, 0, 0).unwrap()));
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 1, 5, 6, 59, 59).unwrap()));
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 1, 5, 17, 0, 0).unwrap()), "18:00 local is closed");
        // Summer: UTC+2. Monday 2026-07-06 06:00 UTC = 08:00 local.
        assert!(w.contains(Utc.with_ymd_and_hms(2026, 7, 6, 6, 0, 0).unwrap()));
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 7, 6, 16, 0, 0).unwrap()));
        // Saturday.
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 1, 10, 10, 0, 0).unwrap()));
        // Friday 23:30 UTC is Saturday 00:30 in Zurich.
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 1, 9, 23, 30, 0).unwrap()));
        assert_eq!(WithdrawalWindow::from_stored(&w.to_stored()).unwrap(), w);
    }

    #[test]
    fn refuses_what_is_not_a_window() {
        let d = [Weekday::Mon];
        let r = OutsideWindow::Refuse;
        assert!(WithdrawalWindow::parse("Mars/Olympus", &d, "08:00", "18:00", r).is_err());
        assert!(WithdrawalWindow::parse("UTC", &[], "08:00", "18:00", r).is_err());
        assert!(WithdrawalWindow::parse("UTC", &d, "8:00", "18:00", r).is_err());
        assert!(WithdrawalWindow::parse("UTC", &d, "18:00", "08:00", r).is_err());
        assert!(WithdrawalWindow::parse("UTC", &d, "08:00", "25:00", r).is_err());
        assert!(
            WithdrawalWindow::parse("UTC", &d, "00:00", "24:00", r)
                .unwrap()
                .contains(Utc.with_ymd_and_hms(2026, 1, 5, 23, 59, 59).unwrap())
        );
    }
}
