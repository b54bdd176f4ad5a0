//! Process plumbing shared by `node start`, `testnet` and `crawl`: the tokio
//! runtime, signals, stdin-close detection and OS randomness.

use super::CliError;

/// A multi-thread tokio runtime for a real node.
pub(crate) fn tokio_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the tokio runtime: {e}")))
}

/// Ctrl-C (SIGINT) and SIGTERM, listened to from creation on, so a signal
/// that arrives before anyone waits is not lost. Create it inside a tokio runtime.
pub(crate) struct Shutdown {
    #[cfg(unix)]
    sigs: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    /// Starts listening.
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let sigs = signal(SignalKind::interrupt())
                .and_then(|i| Ok((i, signal(SignalKind::terminate())?)))
                .map_err(|e| tracing::warn!(error = %e, "cannot listen for signals"))
                .ok();
            Shutdown { sigs }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    /// Resolves on the next Ctrl-C or SIGTERM.
    pub(crate) async fn wait(&mut self) {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.sigs {
            tokio::select! {
                biased;
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves when stdin reaches end of file (or fails).
pub(crate) async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

#[allow(clippy::disallowed_types)] // allow-ambient: a real node's random choices need not be reproducible
pub(crate) fn random_seed() -> [u8; 32] {
    use rand_core::RngCore;
    let mut s = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut s); // allow-ambient: a real node seeds its RNG once
    s
}
