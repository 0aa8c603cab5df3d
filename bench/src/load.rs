//! The load generator: N concurrent clients, each sending one request at a
//! time (closed loop) for a fixed duration, recording every latency.
//!
//! A latency is the time from just before the request is sent to the end of
//! reading its response body, measured on the client. Percentiles come from
//! the sorted list of all recorded latencies (exact; runs are short enough
//! to keep them all).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Requests that did what the scenario counts (e.g. an accepted withdrawal).
    pub ok: u64,
    /// Requests refused or failed.
    pub refused: u64,
    pub elapsed: Duration,
    /// Latencies of the `ok` requests, sorted.
    pub latencies: Vec<Duration>,
}

impl Outcome {
    /// Counted requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the counted requests' latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        quantile(&self.latencies, q)
    }
}

/// The `q` quantile of sorted durations (nearest rank); zero when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `clients` concurrent clients for `duration`. `request(client, seq)`
/// sends one request and says whether it counts; an `Err` counts as refused.
pub async fn run<F, Fut>(clients: usize, duration: Duration, request: F) -> Outcome
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<bool>> + Send + 'static,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match request(client, seq).await {
                    Ok(true) => {
                        out.ok += 1;
                        out.latencies.push(t.elapsed());
                    }
                    Ok(false) | Err(_) => out.refused += 1,
                }
                seq += 1;
            }
            out
        }));
    }
    let mut total = Outcome::default();
    for t in tasks {
        if let Ok(o) = t.await {
            total.ok += o.ok;
            total.refused += o.refused;
            total.latencies.extend(o.latencies);
        }
    }
    total.elapsed = started.elapsed();
    total.latencies.sort_unstable();
    total
}

/// A warm-up run (discarded), then the measured run.
pub async fn measure<F, Fut>(clients: usize, warmup: Duration, duration: Duration, request: F) -> Outcome
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<bool>> + Send + 'static,
{
    let request = Arc::new(request);
    let r = request.clone();
    run(clients, warmup, move |c, s| r(c, s)).await;
    run(clients, duration, move |c, s| request(c, s)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&d, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[tokio::test]
    async fn counts_what_the_request_says() {
        let o = run(2, Duration::from_millis(20), |_, seq| async move {
            tokio::task::yield_now().await;
            Ok(seq % 2 == 0)
        })
        .await;
        assert!(o.ok > 0, "every client's first request counts");
        assert_eq!(o.latencies.len() as u64, o.ok);
    }
}
