//! The one retry policy of the client: which failures are worth repeating is
//! [`SwiftError::is_transient`]; how long to wait is here. Every loop that repeats a
//! request goes through [`RetryPolicy`], so no caller has its own backoff, and every
//! retry is counted here.

use super::SwiftError;
use crate::metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// The first delay; each one doubles (at most 10 s), with jitter.
    pub base_delay: Duration,
    pub metrics: Arc<Metrics>,
}

/// Longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(10);

impl RetryPolicy {
    /// A retry is decided (after attempt number `attempt`, 0 = the first): counts
    /// it, and returns how long to wait before it.
    pub fn retry_after(&self, attempt: u32) -> Duration {
        self.metrics.retried();
        self.delay(attempt)
    }

    /// The wait before attempt `attempt + 1`. Full jitter: retries from many tasks do
    /// not hit a recovering server in step.
    fn delay(&self, attempt: u32) -> Duration {
        let cap = self.base_delay.saturating_mul(1 << attempt.min(6));
        cap.min(MAX_DELAY).mul_f64(rand::random_range(0.5..=1.0))
    }

    /// Whether attempt number `attempt` (0 = the first) may be followed by another.
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.retries
    }

    /// Runs `op` until it succeeds, fails for good (`retryable` says no), or the
    /// attempts run out; waits between attempts and logs each retry with `what` at
    /// `level`.
    pub async fn run<T, F, Fut>(
        &self,
        what: &str,
        level: log::Level,
        retryable: impl Fn(&SwiftError) -> bool,
        mut op: F,
    ) -> Result<T, SwiftError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SwiftError>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if retryable(&e) && self.may_retry(attempt) => {
                    let delay = self.retry_after(attempt);
                    attempt += 1;
                    log::log!(
                        level,
                        "{what}: {e}; retry {attempt}/{} in {delay:?}",
                        self.retries
                    );
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn passing() -> SwiftError {
        SwiftError::Http {
            method: "GET".into(),
            what: "x".into(),
            status: 503,
            detail: String::new(),
        }
    }

    #[tokio::test]
    async fn retries_passing_trouble_then_gives_up() {
        let p = RetryPolicy {
            retries: 2,
            base_delay: Duration::from_millis(1),
            metrics: Arc::default(),
        };
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = p
            .run("op", log::Level::Warn, SwiftError::is_transient, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(passing())
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        assert!(
            p.metrics
                .text()
                .lines()
                .any(|l| l == "swiftmount_retries_total 2"),
            "two retries counted"
        );
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = p
            .run("op", log::Level::Warn, SwiftError::is_transient, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(SwiftError::NotFound("x".into()))
            })
            .await;
        assert!(matches!(r, Err(SwiftError::NotFound(_))));
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "a final answer is not repeated"
        );
    }

    #[test]
    fn delays_double_with_jitter_and_a_cap() {
        let p = RetryPolicy {
            retries: 6,
            base_delay: Duration::from_millis(200),
            metrics: Arc::default(),
        };
        for attempt in 0..10 {
            let d = p.delay(attempt);
            let cap = Duration::from_millis(200 << attempt.min(6)).min(MAX_DELAY);
            assert!(d <= cap && d >= cap / 2, "attempt {attempt}: {d:?}");
        }
    }
}
