//! Virtual-or-real time as a plain value.
//!
//! Protocol cores never read a clock: they are handed an [`Instant`] by their
//! driver, which got it from [`crate::net::Runtime::now`]. An `Instant` is the
//! time elapsed since the runtime's own epoch (process start for TCP, zero for
//! the simulator), so it is `Copy`, totally ordered and reproducible.

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in time on a [`crate::net::Runtime`]'s clock, measured from that runtime's epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The runtime's epoch.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `d` after the epoch.
    pub const fn from_epoch(d: Duration) -> Self {
        Instant(d)
    }

    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(Duration::from_nanos(nanos))
    }

    /// Time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// Nanoseconds since the epoch (saturating at `u64::MAX`, about 584 years).
    pub fn as_nanos(self) -> u64 {
        u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating: an instant past the end of time stays at the end of time.
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: zero when `rhs` is later than `self`.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturating at the epoch.
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_nanos(5_000);
        assert_eq!(t + Duration::from_nanos(1), Instant::from_nanos(5_001));
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::from_nanos(1_000), Duration::from_nanos(4_000));
        assert_eq!(t - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(
            Instant::from_epoch(Duration::MAX) + Duration::from_secs(1),
            Instant::from_epoch(Duration::MAX)
        );
    }
}
