//! Reconnecting to persistent peers (spec 2.3, Go's `reconnectToPeer` as of
//! v0.38.x with cometbft#4377): at most one routine per ID.
//!
//! - Phase 1: up to 20 attempts; attempt at once, after a failure sleep
//!   5 s + U[0, 3 s).
//! - Phase 2: for i = 1..=10: sleep 3^i s + U[0, 3 s), then attempt.
//! - Stop on success, on `CurrentlyDialingOrExistingAddress` (someone else
//!   has it), or when the switch stops; give up after the last attempt.
//!
//! The schedule is data ([`reconnect_schedule`]); the routine adds the
//! jitter from the switch's RNG.

use std::sync::Arc;
use std::time::Duration;

use super::core::{lock, Shared};
use super::error::DialError;
use crate::net::{Network, Runtime};
use crate::netaddr::NetAddress;

/// Phase-1 attempts (Go's `reconnectAttempts`).
pub const RECONNECT_ATTEMPTS: u32 = 20;
/// Phase-1 pause before jitter (Go's `reconnectInterval`).
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(5);
/// Phase-2 attempts (Go's `reconnectBackOffAttempts`).
pub const RECONNECT_BACKOFF_ATTEMPTS: u32 = 10;
/// Phase-2 base: the i-th pause is `base^i` seconds (Go's `reconnectBackOffBaseSeconds`).
pub const RECONNECT_BACKOFF_BASE_SECS: u64 = 3;

/// One step of the reconnect routine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectStep {
    /// Try to dial.
    Dial,
    /// Sleep this long plus U[0, 3 s).
    Sleep(Duration),
}

/// The whole schedule: 20 × (dial, sleep 5 s), then 10 × (sleep 3^i s, dial).
pub fn reconnect_schedule() -> impl Iterator<Item = ReconnectStep> {
    let phase1 = (0..RECONNECT_ATTEMPTS).flat_map(|_| {
        [
            ReconnectStep::Dial,
            ReconnectStep::Sleep(RECONNECT_INTERVAL),
        ]
    });
    let phase2 = (1..=RECONNECT_BACKOFF_ATTEMPTS).flat_map(|i| {
        let secs = RECONNECT_BACKOFF_BASE_SECS.pow(i);
        [
            ReconnectStep::Sleep(Duration::from_secs(secs)),
            ReconnectStep::Dial,
        ]
    });
    phase1.chain(phase2)
}

impl<N: Network, R: Runtime> Shared<N, R> {
    /// Starts the reconnect routine for `addr` unless one runs for its ID.
    pub(crate) fn spawn_reconnect(self: &Arc<Self>, addr: NetAddress) {
        if !self.is_running() || !lock(&self.reconnecting).insert(addr.id()) {
            return;
        }
        let shared = self.clone();
        self.spawn_task(async move {
            shared.reconnect(addr).await;
            lock(&shared.reconnecting).remove(&addr.id());
        });
    }

    async fn reconnect(self: &Arc<Self>, addr: NetAddress) {
        let start = self.now();
        tracing::info!(%addr, "reconnecting to peer");
        self.observer.reconnect_started(start, &addr);
        let mut tries = 0u32;
        for step in reconnect_schedule() {
            if !self.is_running() {
                return;
            }
            match step {
                ReconnectStep::Sleep(base) => {
                    let d = base + self.jitter();
                    if !self.sleep_unless_stopped(d).await {
                        return;
                    }
                }
                ReconnectStep::Dial => {
                    tries += 1;
                    match self.dial(addr).await {
                        Ok(_) => return,
                        Err(DialError::CurrentlyDialingOrExistingAddress { .. }) => return,
                        Err(e) => {
                            tracing::info!(%addr, tries, error = %e, "error reconnecting to peer")
                        }
                    }
                }
            }
        }
        let elapsed = self.now().saturating_duration_since(start);
        tracing::error!(%addr, ?elapsed, "failed to reconnect to peer; giving up");
        self.observer.reconnect_gave_up(self.now(), &addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_go() {
        let steps: Vec<_> = reconnect_schedule().collect();
        assert_eq!(steps.len(), 60);
        let dials = steps.iter().filter(|s| **s == ReconnectStep::Dial).count();
        assert_eq!(dials, 30);
        assert_eq!(steps[0], ReconnectStep::Dial);
        assert_eq!(steps[1], ReconnectStep::Sleep(Duration::from_secs(5)));
        assert_eq!(steps[39], ReconnectStep::Sleep(Duration::from_secs(5)));
        assert_eq!(steps[40], ReconnectStep::Sleep(Duration::from_secs(3)));
        assert_eq!(steps[41], ReconnectStep::Dial);
        assert_eq!(steps[42], ReconnectStep::Sleep(Duration::from_secs(9)));
        assert_eq!(steps[58], ReconnectStep::Sleep(Duration::from_secs(59_049)));
        assert_eq!(steps[59], ReconnectStep::Dial);
        let base: u64 = steps
            .iter()
            .map(|s| match s {
                ReconnectStep::Sleep(d) => d.as_secs(),
                ReconnectStep::Dial => 0,
            })
            .sum();
        // 20 × 5 s + (3 + 9 + … + 3^10) s = 100 + 88,572.
        assert_eq!(base, 100 + 88_572);
    }
}
