//! A rate limiter with the semantics of CometBFT's `libs/flowrate` Monitor
//! (spec 2.6), as a pure value: time is passed in.
//!
//! - Transfers are measured in samples of 100 ms. A sample closes at the
//!   first update at least 100 ms after it started; the next one starts then.
//! - The budget per sample is `round(rate × 0.1 s)` bytes (at least 1).
//! - Bytes are counted after the fact ([`RateLimiter::record`]), so a burst
//!   can overshoot the budget by one batch.
//! - While the current sample's bytes are at or over budget, sending must wait
//!   until the sample boundary, and at least 5 ms ([`RateLimiter::ready_at`]).
//! - A rate of 0 means unlimited.
//!
//! It also keeps totals and an exponential moving average of the rate (1 s
//! window) for status reports. Go rounds its clock to 20 ms; this version
//! uses the instants it is given as they are.

use std::time::Duration;

use crate::time::Instant;

/// Length of one sample.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(100);
/// Shortest wait when over budget.
pub const MIN_WAIT: Duration = Duration::from_millis(5);
/// Window of the moving average.
const EMA_WINDOW_SECS: f64 = 1.0;

/// Transfer statistics (rates in bytes per second, rounded).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FlowStatus {
    /// Total bytes recorded.
    pub bytes: u64,
    /// Rate of the last closed sample.
    pub inst_rate: u64,
    /// Moving average of the sample rates (Go's `CurRate`).
    pub cur_rate: u64,
    /// Bytes of closed samples divided by their duration.
    pub avg_rate: u64,
    /// Highest sample rate seen.
    pub peak_rate: u64,
    /// Time covered by closed samples.
    pub duration: Duration,
    /// Time since the last non-empty record.
    pub idle: Duration,
}

/// Limits and measures one direction of a connection.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: u64,
    start: Instant,
    sample_start: Instant,
    sample_bytes: u64,
    closed_bytes: u64,
    samples: u64,
    r_sample: f64,
    r_ema: f64,
    r_peak: f64,
    last_transfer: Instant,
}

impl RateLimiter {
    /// A limiter for `rate` bytes per second (0 = unlimited), starting at `now`.
    pub fn new(now: Instant, rate: u64) -> Self {
        RateLimiter {
            rate,
            start: now,
            sample_start: now,
            sample_bytes: 0,
            closed_bytes: 0,
            samples: 0,
            r_sample: 0.0,
            r_ema: 0.0,
            r_peak: 0.0,
            last_transfer: now,
        }
    }

    /// The configured rate (bytes per second, 0 = unlimited).
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Changes the rate.
    pub fn set_rate(&mut self, rate: u64) {
        self.rate = rate;
    }

    /// Bytes allowed per sample: `round(rate × 0.1)`, at least 1.
    pub fn budget(&self) -> u64 {
        (self.rate.saturating_add(5) / 10).max(1)
    }

    /// Records `bytes` transferred at `now` (Go's `Update`): adds them to the
    /// current sample, then closes the sample if it is 100 ms old.
    pub fn record(&mut self, now: Instant, bytes: usize) {
        let now = now.max(self.sample_start);
        if bytes > 0 {
            self.last_transfer = now;
        }
        self.sample_bytes = self.sample_bytes.saturating_add(bytes as u64);
        let elapsed = now - self.sample_start;
        if elapsed >= SAMPLE_PERIOD {
            let t = elapsed.as_secs_f64();
            self.r_sample = self.sample_bytes as f64 / t;
            if self.r_sample > self.r_peak {
                self.r_peak = self.r_sample;
            }
            if self.samples > 0 {
                let w = (-t / EMA_WINDOW_SECS).exp();
                self.r_ema = self.r_sample + w * (self.r_ema - self.r_sample);
            } else {
                self.r_ema = self.r_sample;
            }
            self.closed_bytes += self.sample_bytes;
            self.samples += 1;
            self.sample_bytes = 0;
            self.sample_start = now;
        }
    }

    /// `None` if a transfer may start at `now`; otherwise the instant at which
    /// it may (the end of the current sample, at least 5 ms after `now`).
    pub fn ready_at(&self, now: Instant) -> Option<Instant> {
        if self.rate == 0 {
            return None;
        }
        let boundary = self.sample_start + SAMPLE_PERIOD;
        if now >= boundary || self.sample_bytes < self.budget() {
            return None;
        }
        Some(boundary.max(now + MIN_WAIT))
    }

    /// All bytes recorded so far.
    pub fn total_bytes(&self) -> u64 {
        self.closed_bytes + self.sample_bytes
    }

    /// Statistics as of `now` (closes the current sample if it is due).
    pub fn status(&mut self, now: Instant) -> FlowStatus {
        self.record(now, 0);
        let duration = self.sample_start - self.start;
        let secs = duration.as_secs_f64();
        let avg = if secs > 0.0 {
            self.closed_bytes as f64 / secs
        } else {
            0.0
        };
        FlowStatus {
            bytes: self.total_bytes(),
            inst_rate: self.r_sample.round() as u64,
            cur_rate: self.r_ema.round() as u64,
            avg_rate: avg.round() as u64,
            peak_rate: self.r_peak.round() as u64,
            duration,
            idle: now - self.last_transfer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_epoch(Duration::from_millis(n))
    }

    #[test]
    fn budget_rounding() {
        assert_eq!(RateLimiter::new(ms(0), 5_120_000).budget(), 512_000);
        assert_eq!(RateLimiter::new(ms(0), 512_000).budget(), 51_200);
        assert_eq!(RateLimiter::new(ms(0), 15).budget(), 2);
        assert_eq!(RateLimiter::new(ms(0), 1).budget(), 1);
    }

    #[test]
    fn waits_for_the_next_sample() {
        let mut l = RateLimiter::new(ms(0), 10_000); // 1000 B per sample
        assert_eq!(l.ready_at(ms(0)), None);
        l.record(ms(0), 999);
        assert_eq!(l.ready_at(ms(10)), None);
        l.record(ms(10), 500); // overshoot is allowed, counted after the fact
        assert_eq!(l.ready_at(ms(10)), Some(ms(100)));
        assert_eq!(l.ready_at(ms(97)), Some(ms(102))); // at least 5 ms
        assert_eq!(l.ready_at(ms(100)), None);
        l.record(ms(130), 0); // closes the sample at 130 ms
        assert_eq!(l.total_bytes(), 1499);
        l.record(ms(130), 1000);
        assert_eq!(l.ready_at(ms(131)), Some(ms(230)));
        // Unlimited.
        let mut u = RateLimiter::new(ms(0), 0);
        u.record(ms(0), 1 << 30);
        assert_eq!(u.ready_at(ms(0)), None);
    }

    #[test]
    fn status_rates() {
        let mut l = RateLimiter::new(ms(0), 0);
        for i in 1..=20 {
            l.record(ms(i * 100), 1000); // each call closes a 100 ms sample
        }
        let st = l.status(ms(2050));
        assert_eq!(st.bytes, 20_000);
        assert_eq!(st.inst_rate, 10_000);
        assert_eq!(st.peak_rate, 10_000);
        assert_eq!(st.avg_rate, 10_000);
        assert_eq!(st.cur_rate, 10_000);
        assert_eq!(st.duration, Duration::from_secs(2));
        assert_eq!(st.idle, Duration::from_millis(50));
    }
}
