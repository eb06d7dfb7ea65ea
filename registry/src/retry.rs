//! When and how long to wait before asking a registry again.

use std::time::Duration;

/// Attempts per request, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 6;
/// Never wait longer than this between attempts, whatever `Retry-After` says.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Statuses worth another try: rate limiting and server-side trouble.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..600).contains(&status) && status != 501
}

/// Exponential backoff from 200 ms with up to 25% jitter, so that the parallel
/// layer downloads of one pull do not hammer a recovering registry in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(200).saturating_mul(1 << attempt.min(8));
    let jitter_percent = u64::from(std::process::id().wrapping_add(attempt) % 25);
    let delay = base + base.mul_f64(jitter_percent as f64 / 100.0);
    delay.min(MAX_DELAY)
}

/// The delay a 429 or 503 asks for: `Retry-After` in seconds (HTTP dates are
/// rare from registries and fall back to backoff).
pub(crate) fn retry_after(header: Option<&str>, attempt: u32) -> Duration {
    header
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_else(|| backoff(attempt))
        .min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_millis(200));
        assert!(backoff(0) < Duration::from_millis(260));
        assert!(backoff(3) >= Duration::from_millis(1600));
        assert_eq!(backoff(30), MAX_DELAY);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        assert_eq!(retry_after(Some("2"), 0), Duration::from_secs(2));
        assert_eq!(retry_after(Some("3600"), 0), MAX_DELAY);
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), 0),
            backoff(0)
        );
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(503));
        assert!(!is_retryable_status(501));
        assert!(!is_retryable_status(404));
    }
}
