//! One row per figure: the figure, its same-run baseline, the ratio, the
//! target and whether it was met; printed as a Markdown table.

use std::time::Duration;

/// How a row's ratio is judged.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The ratio (figure / baseline) must be at least this.
    AtLeast(f64),
    /// The figure itself (a latency) must be below this.
    Below(Duration),
    /// Reported only.
    None,
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub database: String,
    /// The figure as text, e.g. `"2,310 req/s (p50 6.1 ms, p99 14 ms)"`.
    pub figure: String,
    pub baseline: String,
    /// figure / baseline, in the direction stated by the scenario.
    pub ratio: f64,
    pub target: Target,
    /// The value the target judges (the ratio, or a latency in seconds).
    pub judged: f64,
    /// A note such as the invariant check.
    pub note: String,
}

impl Row {
    pub fn verdict(&self) -> &'static str {
        match self.target {
            Target::AtLeast(t) if self.judged >= t => "pass",
            Target::Below(t) if self.judged < t.as_secs_f64() => "pass",
            Target::None => "—",
            _ => "FAIL",
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::AtLeast(t) => format!("≥ {t} × baseline"),
            Target::Below(t) => format!("p99 < {}", ms(t)),
            Target::None => "—".into(),
        }
    }
}

/// Milliseconds with sensible precision.
pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// A rate with thousands separators.
pub fn per_sec(v: f64, unit: &str) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} {unit}")
}

/// Prints rows as a Markdown table.
pub fn print(rows: &[Row]) {
    println!();
    println!("| scenario | database | figure | baseline (same run) | ratio | target | result | notes |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} |",
            r.scenario,
            r.database,
            r.figure,
            r.baseline,
            r.ratio,
            r.target_text(),
            r.verdict(),
            r.note
        );
    }
}

/// Prints one row as soon as it is measured (the table repeats it at the end).
pub fn progress(r: &Row) {
    eprintln!(
        "  {} / {}: {} vs {} → {:.2} ({}) {}",
        r.scenario,
        r.database,
        r.figure,
        r.baseline,
        r.ratio,
        r.verdict(),
        r.note
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_verdicts() {
        assert_eq!(per_sec(1234567.4, "req/s"), "1,234,567 req/s");
        assert_eq!(per_sec(999.0, "req/s"), "999 req/s");
        assert_eq!(ms(Duration::from_micros(1500)), "1.50 ms");
        let mut r = Row {
            scenario: "s".into(),
            database: "d".into(),
            figure: String::new(),
            baseline: String::new(),
            ratio: 0.6,
            target: Target::AtLeast(0.5),
            judged: 0.6,
            note: String::new(),
        };
        assert_eq!(r.verdict(), "pass");
        r.judged = 0.4;
        assert_eq!(r.verdict(), "FAIL");
        r.target = Target::Below(Duration::from_millis(250));
        r.judged = 0.3;
        assert_eq!(r.verdict(), "FAIL");
    }
}
