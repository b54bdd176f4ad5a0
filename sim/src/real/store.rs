//! `addrbook.json` on disk: a [`BookStore`] that saves atomically in Go's
//! format ([`addrbook_file::save`]: temp file, fsync, rename), and the loader
//! a real node starts with.
//!
//! A crash during a save leaves the previous file intact (the rename is the
//! only step that replaces it); a stale temporary file from a crashed writer is
//! ignored by the loader and overwritten by the next save.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use p2p::pex::addrbook::AddrBook;
use p2p::pex::addrbook_file::{self, AddrBookFileError, WallClock};
use p2p::pex::reactor::BookStore;
use rand_core::RngCore;

/// Saves the address book to a file.
#[derive(Debug)]
pub struct FileBookStore {
    path: PathBuf,
    clock: WallClock,
    last_error: Mutex<Option<String>>,
}

impl FileBookStore {
    /// A store writing `path`, mapping runtime instants with `clock`.
    pub fn new(path: impl Into<PathBuf>, clock: WallClock) -> Self {
        FileBookStore {
            path: path.into(),
            clock,
            last_error: Mutex::new(None),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves `book` now, returning the error (the [`BookStore`] impl logs it).
    pub fn try_save(&self, book: &AddrBook) -> Result<(), AddrBookFileError> {
        let r = addrbook_file::save(book, &self.path, self.clock);
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        *last = r.as_ref().err().map(ToString::to_string);
        r
    }

    /// The error of the last save, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the book, or makes an empty one (fresh random key from `rng`) if
    /// the file does not exist yet.
    pub fn load_or_new(
        &self,
        strict: bool,
        rng: &mut impl RngCore,
    ) -> Result<AddrBook, AddrBookFileError> {
        Ok(addrbook_file::load(&self.path, self.clock, strict)?
            .unwrap_or_else(|| AddrBook::new(strict, rng)))
    }
}

impl BookStore for FileBookStore {
    fn save(&self, book: &AddrBook) {
        match self.try_save(book) {
            Ok(()) => {
                tracing::debug!(path = %self.path.display(), size = book.size(), "address book saved")
            }
            Err(e) => tracing::error!(error = %e, "address book not saved"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p::net::Instant;
    use p2p::netaddr::NetAddress;
    use p2p::NodeKey;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const CLOCK: WallClock = WallClock {
        epoch_unix_nanos: 1_700_000_000_000_000_000,
    };

    #[test]
    fn missing_file_gives_an_empty_book_and_save_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBookStore::new(dir.path().join("addrbook.json"), CLOCK);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut book = store.load_or_new(false, &mut rng).unwrap();
        assert!(book.is_empty());
        let a = NetAddress::new(
            NodeKey::from_seed([1; 32]).node_id(),
            [127, 0, 0, 2].into(),
            26656,
        );
        let s = NetAddress::new(
            NodeKey::from_seed([2; 32]).node_id(),
            [127, 0, 0, 3].into(),
            26656,
        );
        book.add_address(a, s, Instant::ZERO, &mut rng).unwrap();
        BookStore::save(&store, &book);
        assert_eq!(store.last_error(), None);
        let back = store.load_or_new(false, &mut rng).unwrap();
        assert_eq!(back.size(), 1);
        assert_eq!(back.key(), book.key());
        assert!(back.has_address(&a));
    }
}
