//! Rate limiting: a token bucket per client (the open link) or per link (personal
//! links and open sessions).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// How many clients are tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// A token bucket per key: a client's address group, or a link's delivery id.
#[derive(Debug)]
pub struct RateLimiter<K> {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// Allows `burst` requests at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> RateLimiter<K> {
        RateLimiter {
            burst: f64::from(burst),
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this key may make one more request now.
    pub fn allow(&self, client: K) -> bool {
        self.allow_at(client, Instant::now())
    }

    fn allow_at(&self, client: K, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            let full = self.burst;
            let rate = self.per_second;
            buckets.retain(|_, b| refilled(b, now, rate, full) < full);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = refilled(bucket, now, self.per_second, self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn refilled(bucket: &Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_per_client() {
        let limiter = RateLimiter::new(2, 60);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        let t0 = Instant::now();
        assert!(limiter.allow_at(a, t0));
        assert!(limiter.allow_at(a, t0));
        assert!(!limiter.allow_at(a, t0));
        assert!(limiter.allow_at(b, t0));
        assert!(limiter.allow_at(a, t0 + Duration::from_secs(1)));
        assert!(!limiter.allow_at(a, t0 + Duration::from_secs(1)));
    }
}
