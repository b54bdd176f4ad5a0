//! The simulator's executor: one thread, a virtual clock that jumps from event
//! to event, and a `(time, seq)` event queue so ties resolve in scheduling
//! order. Idle time costs nothing.
//!
//! [`Sim`] owns tasks and events; [`SimRuntime`] is its [`Runtime`] handle
//! (clock, sleeps, spawn) given to protocol code. Tasks are polled in FIFO
//! order of their wake-ups, so a run is a pure function of the inputs.
//!
//! Besides waking sleeping tasks, events may run callbacks
//! ([`SimRuntime::schedule`]); the network model delivers bytes that way.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use p2p::net::{Instant, Runtime};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;
type Callback = Box<dyn FnOnce() + Send>;

enum Event {
    Wake(Arc<TimerSlot>),
    Call(Callback),
}

/// A sleeping future's registration; cancelled when the future is dropped.
struct TimerSlot {
    fired: AtomicBool,
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

#[derive(Default)]
struct State {
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    events: std::collections::BTreeMap<u64, Event>,
    ready: VecDeque<usize>,
    spawned: Vec<(u32, Task)>,
    /// Groups whose tasks are not polled (their wake-ups wait in `parked`).
    paused: std::collections::BTreeSet<u32>,
    parked: Vec<usize>,
    /// Groups whose tasks are to be dropped at the next opportunity.
    killed: Vec<u32>,
    polls: u64,
    events_run: u64,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.shared.lock().ready.push_back(self.id);
        }
    }
}

struct Slot {
    future: Option<Task>,
    waker: Arc<TaskWaker>,
    group: u32,
}

/// The simulation: tasks, the clock and the event queue.
pub struct Sim {
    shared: Arc<Shared>,
    tasks: Vec<Option<Slot>>,
    free: Vec<usize>,
}

/// Counters of a run so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimStats {
    /// Task polls.
    pub polls: u64,
    /// Events run (timer wake-ups and callbacks).
    pub events: u64,
    /// Tasks alive.
    pub tasks: usize,
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    /// An empty simulation at time zero.
    pub fn new() -> Self {
        Sim {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
            }),
            tasks: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The runtime handle protocol code uses.
    pub fn runtime(&self) -> SimRuntime {
        SimRuntime {
            shared: self.shared.clone(),
            group: 0,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.shared.lock().now
    }

    /// Counters so far.
    pub fn stats(&self) -> SimStats {
        let s = self.shared.lock();
        SimStats {
            polls: s.polls,
            events: s.events_run,
            tasks: self.tasks.len() - self.free.len(),
        }
    }

    fn adopt_spawned(&mut self) {
        let spawned = std::mem::take(&mut self.shared.lock().spawned);
        for (group, fut) in spawned {
            let id = self.free.pop().unwrap_or_else(|| {
                self.tasks.push(None);
                self.tasks.len() - 1
            });
            let waker = Arc::new(TaskWaker {
                id,
                queued: AtomicBool::new(true),
                shared: self.shared.clone(),
            });
            self.tasks[id] = Some(Slot {
                future: Some(fut),
                waker,
                group,
            });
            self.shared.lock().ready.push_back(id);
        }
    }

    /// Polls ready tasks until none is ready. Returns the number of polls.
    fn run_ready(&mut self) -> u64 {
        let mut polls = 0;
        loop {
            self.adopt_spawned();
            self.reap_killed();
            let Some(id) = self.shared.lock().ready.pop_front() else {
                break;
            };
            let Some(slot) = self.tasks.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            {
                let mut s = self.shared.lock();
                if s.paused.contains(&slot.group) {
                    // Stays marked as queued; `resume_group` requeues it.
                    s.parked.push(id);
                    continue;
                }
            }
            slot.waker.queued.store(false, Ordering::Release);
            let Some(mut fut) = slot.future.take() else {
                continue;
            };
            let waker = Waker::from(slot.waker.clone());
            let mut cx = Context::from_waker(&waker);
            polls += 1;
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(()) => {
                    self.tasks[id] = None;
                    self.free.push(id);
                }
                Poll::Pending => {
                    if let Some(slot) = self.tasks[id].as_mut() {
                        slot.future = Some(fut);
                    }
                }
            }
        }
        self.shared.lock().polls += polls;
        polls
    }

    fn reap_killed(&mut self) {
        let killed = std::mem::take(&mut self.shared.lock().killed);
        if killed.is_empty() {
            return;
        }
        for id in 0..self.tasks.len() {
            if self.tasks[id]
                .as_ref()
                .is_some_and(|t| killed.contains(&t.group))
            {
                // Dropping the future runs its destructors (streams close, sleeps cancel).
                let slot = self.tasks[id].take();
                drop(slot);
                self.free.push(id);
            }
        }
    }

    /// Runs until the queue is empty or the next event is after `end`; the
    /// clock is then set to `end` (if it is later than now).
    pub fn run_until(&mut self, end: Instant) {
        self.run_inner(end, true);
    }

    fn run_inner(&mut self, end: Instant, advance_to_end: bool) {
        loop {
            self.run_ready();
            let event = {
                let mut s = self.shared.lock();
                match s.queue.peek() {
                    Some(Reverse((t, _))) if *t <= end => {
                        let Some(Reverse((t, seq))) = s.queue.pop() else {
                            break;
                        };
                        let ev = s.events.remove(&seq);
                        if let Some(Event::Wake(slot)) = &ev {
                            if slot.cancelled.load(Ordering::Acquire) {
                                // A dropped sleep: neither time nor work.
                                continue;
                            }
                        }
                        s.now = s.now.max(t);
                        s.events_run += 1;
                        ev
                    }
                    _ => {
                        if advance_to_end {
                            s.now = s.now.max(end);
                        }
                        break;
                    }
                }
            };
            match event {
                Some(Event::Wake(slot)) => {
                    slot.fired.store(true, Ordering::Release);
                    let w = slot.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(w) = w {
                        w.wake();
                    }
                }
                Some(Event::Call(f)) => f(),
                None => {}
            }
        }
    }

    /// Runs until nothing is left to do (beware of periodic timers).
    pub fn run_to_idle(&mut self) {
        self.run_inner(Instant::from_nanos(u64::MAX), false);
    }

    /// Runs `fut` to completion on the simulation, advancing virtual time as
    /// needed; `None` if the simulation went idle or passed `limit` first.
    pub fn block_on<T: Send + 'static>(
        &mut self,
        limit: Instant,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let out = Arc::new(Mutex::new(None));
        let o = out.clone();
        self.runtime().spawn(async move {
            let v = fut.await;
            *o.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
        });
        loop {
            if let Some(v) = out.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return Some(v);
            }
            let next = {
                let s = self.shared.lock();
                if !s.ready.is_empty() || !s.spawned.is_empty() {
                    Some(s.now)
                } else {
                    s.queue.peek().map(|Reverse((t, _))| *t)
                }
            };
            match next {
                Some(t) if t <= limit => self.run_until(t),
                _ => {
                    self.run_until(limit);
                    return out.lock().unwrap_or_else(|e| e.into_inner()).take();
                }
            }
        }
    }
}

/// The [`Runtime`] of a [`Sim`]: virtual clock, sleeps as events, spawn into the sim.
#[derive(Clone)]
pub struct SimRuntime {
    shared: Arc<Shared>,
    group: u32,
}

impl SimRuntime {
    /// A handle whose spawned tasks belong to `group` (e.g. one simulated
    /// node), so they can be paused, resumed or killed together.
    pub fn with_group(&self, group: u32) -> SimRuntime {
        SimRuntime {
            shared: self.shared.clone(),
            group,
        }
    }

    /// The group of tasks this handle spawns.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// Stops polling `group`'s tasks; their wake-ups are kept for [`Self::resume_group`].
    pub fn pause_group(&self, group: u32) {
        self.shared.lock().paused.insert(group);
    }

    /// Polls `group`'s tasks again, replaying wake-ups that came while paused.
    pub fn resume_group(&self, group: u32) {
        let mut s = self.shared.lock();
        s.paused.remove(&group);
        let parked = std::mem::take(&mut s.parked);
        s.ready.extend(parked);
    }

    /// Drops every task of `group` (a crash): futures are dropped, so their
    /// streams close and their sleeps are cancelled.
    pub fn kill_group(&self, group: u32) {
        self.shared.lock().killed.push(group);
    }

    fn push(&self, at: Instant, ev: Event) {
        let mut s = self.shared.lock();
        let at = at.max(s.now);
        let seq = s.seq;
        s.seq += 1;
        s.queue.push(Reverse((at, seq)));
        s.events.insert(seq, ev);
    }

    /// Runs `f` at virtual time `at` (or now, if `at` has passed), after
    /// everything already scheduled for the same instant.
    pub fn schedule(&self, at: Instant, f: impl FnOnce() + Send + 'static) {
        self.push(at, Event::Call(Box::new(f)));
    }
}

/// A future that completes at a virtual instant.
pub struct Sleep {
    deadline: Instant,
    rt: SimRuntime,
    slot: Option<Arc<TimerSlot>>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(slot) = &self.slot {
            if slot.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *slot.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if self.rt.now() >= self.deadline {
            return Poll::Ready(());
        }
        let slot = Arc::new(TimerSlot {
            fired: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            waker: Mutex::new(Some(cx.waker().clone())),
        });
        self.rt.push(self.deadline, Event::Wake(slot.clone()));
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.cancelled.store(true, Ordering::Release);
        }
    }
}

impl Runtime for SimRuntime {
    fn now(&self) -> Instant {
        self.shared.lock().now
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        Sleep {
            deadline,
            rt: self.clone(),
            slot: None,
        }
    }

    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shared.lock().spawned.push((self.group, Box::pin(fut)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn time_jumps_and_ties_keep_order() {
        let mut sim = Sim::new();
        let rt = sim.runtime();
        let log = Arc::new(Mutex::new(Vec::new()));
        for (i, d) in [(0u32, 30u64), (1, 10), (2, 10), (3, 20)] {
            let (rt2, log) = (rt.clone(), log.clone());
            rt.spawn(async move {
                rt2.sleep(Duration::from_secs(d)).await;
                log.lock()
                    .unwrap()
                    .push((i, rt2.now().since_epoch().as_secs()));
            });
        }
        sim.run_to_idle();
        assert_eq!(
            *log.lock().unwrap(),
            vec![(1, 10), (2, 10), (3, 20), (0, 30)]
        );
        assert_eq!(sim.now(), Instant::from_epoch(Duration::from_secs(30)));
    }

    #[test]
    fn run_until_stops_at_the_boundary_and_block_on_returns() {
        let mut sim = Sim::new();
        let rt = sim.runtime();
        let hits = Arc::new(Mutex::new(0));
        let (r, h) = (rt.clone(), hits.clone());
        rt.spawn(async move {
            loop {
                r.sleep(Duration::from_secs(1)).await;
                *h.lock().unwrap() += 1;
            }
        });
        sim.run_until(Instant::from_epoch(Duration::from_millis(3500)));
        assert_eq!(*hits.lock().unwrap(), 3);
        assert_eq!(sim.now(), Instant::from_epoch(Duration::from_millis(3500)));
        let r = rt.clone();
        let v = sim.block_on(Instant::from_epoch(Duration::from_secs(100)), async move {
            p2p::net::timeout(&r, Duration::from_secs(2), r.sleep(Duration::from_secs(5))).await
        });
        assert_eq!(v, Some(Err(p2p::net::Elapsed(Duration::from_secs(2)))));
        assert_eq!(sim.now(), Instant::from_epoch(Duration::from_millis(5500)));
        let s = sim.stats();
        assert_eq!(s.tasks, 1, "the periodic task is still alive");
    }

    #[test]
    fn groups_pause_resume_and_kill() {
        let mut sim = Sim::new();
        let rt = sim.runtime();
        let ticks = Arc::new(Mutex::new([0u32; 2]));
        for g in 0..2u32 {
            let (r, t) = (rt.with_group(g + 1), ticks.clone());
            r.clone().spawn(async move {
                loop {
                    r.sleep(Duration::from_secs(1)).await;
                    t.lock().unwrap()[g as usize] += 1;
                }
            });
        }
        let at = |s| Instant::from_epoch(Duration::from_millis(s));
        sim.run_until(at(2500));
        rt.pause_group(1);
        sim.run_until(at(5500));
        assert_eq!(*ticks.lock().unwrap(), [2, 5]);
        rt.resume_group(1);
        sim.run_until(at(6500));
        assert_eq!(
            *ticks.lock().unwrap(),
            [4, 6],
            "the parked wake-up runs on resume"
        );
        rt.kill_group(2);
        sim.run_until(at(9500));
        assert_eq!(*ticks.lock().unwrap(), [7, 6]);
        assert_eq!(sim.stats().tasks, 1);
    }

    #[test]
    fn dropped_sleeps_do_not_wake() {
        let mut sim = Sim::new();
        let rt = sim.runtime();
        let r = rt.clone();
        rt.spawn(async move {
            let s = r.sleep(Duration::from_secs(1));
            drop(s);
            let _ = p2p::net::timeout(&r, Duration::from_secs(1), r.sleep(Duration::from_secs(10)))
                .await;
        });
        sim.run_to_idle();
        assert_eq!(
            sim.now(),
            Instant::from_epoch(Duration::from_secs(1)),
            "a dropped sleep costs no time"
        );
        assert_eq!(sim.stats().polls, 2);
    }
}
