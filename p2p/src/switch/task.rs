//! Task bookkeeping for a clean shutdown: a count of live switch tasks that
//! `stop` waits on ([`Tasks`]), and the one-shot shutdown signal every
//! waiting task races against ([`Shutdown`]).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};

#[derive(Default)]
struct Count {
    live: usize,
    idle_waiters: Vec<Waker>,
}

/// Counts the switch's live tasks.
#[derive(Default)]
pub(crate) struct Tasks {
    state: Mutex<Count>,
}

impl Tasks {
    fn lock(&self) -> MutexGuard<'_, Count> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a task; it is live until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> TaskGuard {
        self.lock().live += 1;
        TaskGuard {
            tasks: self.clone(),
        }
    }

    /// Resolves once no task is live.
    pub(crate) fn idle(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut c = self.lock();
            if c.live == 0 {
                Poll::Ready(())
            } else {
                if !c.idle_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    c.idle_waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
    }

    /// Live tasks.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.lock().live
    }
}

/// Held by a running task.
pub(crate) struct TaskGuard {
    tasks: Arc<Tasks>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut c = self.tasks.lock();
        c.live = c.live.saturating_sub(1);
        if c.live == 0 {
            c.idle_waiters.drain(..).for_each(Waker::wake);
        }
    }
}

/// Fired once when the switch stops.
pub(crate) struct Shutdown {
    tx: Mutex<Option<oneshot::Sender<()>>>,
    rx: Shared<oneshot::Receiver<()>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (tx, rx) = oneshot::channel();
        Shutdown {
            tx: Mutex::new(Some(tx)),
            rx: rx.shared(),
        }
    }
}

impl Shutdown {
    /// Fires the signal (idempotent).
    pub(crate) fn fire(&self) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
    }

    /// Resolves once the signal has fired.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + Send + Unpin + 'static {
        self.rx.clone().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn tasks_and_shutdown() {
        let t = Arc::new(Tasks::default());
        let g1 = t.enter();
        let g2 = t.enter();
        assert_eq!(t.live(), 2);
        drop(g1);
        assert!(t.idle().now_or_never().is_none());
        drop(g2);
        assert_eq!(t.idle().now_or_never(), Some(()));

        let s = Shutdown::default();
        let w = s.wait();
        assert!(s.wait().now_or_never().is_none());
        s.fire();
        s.fire();
        block_on(w);
        assert_eq!(s.wait().now_or_never(), Some(()));
    }
}
