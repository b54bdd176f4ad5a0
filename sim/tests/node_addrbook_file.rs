//! `addrbook.json` through the real node's file store: a round trip keeps
//! every entry exactly, and a save that fails or is cut short by a crash
//! leaves the previous book intact and loadable.
//!
//! The crash test re-runs this test binary as a child process that saves two
//! different books in a tight loop, kills it (SIGKILL) at varying moments, and
//! checks after each kill that the file parses and is one of the two books.

#![allow(clippy::disallowed_methods)] // wall-clock waits and a child process

use std::path::Path;
use std::time::Duration;

use p2p::net::Instant;
use p2p::netaddr::NetAddress;
use p2p::pex::addrbook::AddrBook;
use p2p::pex::addrbook_file::{self, WallClock};
use p2p::NodeKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sim::real::store::FileBookStore;

const CLOCK: WallClock = WallClock {
    epoch_unix_nanos: 1_767_225_600_123_456_789,
};
const CHILD_ENV: &str = "COMETNET_ADDRBOOK_CRASH_DIR";

fn at(secs: u64) -> Instant {
    Instant::from_epoch(Duration::from_millis(secs * 1000 + 7))
}

/// A book of `n` addresses in 10.x with a mix of states.
fn book(n: u8, seed: u64) -> AddrBook {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut b = AddrBook::new(false, &mut rng);
    for i in 0..n {
        let id = NodeKey::from_seed([i; 32]).node_id();
        let a = NetAddress::new(id, [10, i, 1, 2].into(), 26656 + u16::from(i));
        let src_id = NodeKey::from_seed([i.wrapping_add(100); 32]).node_id();
        let src = NetAddress::new(src_id, [10, 200, i, 1].into(), 26656);
        b.add_address(a, src, at(u64::from(i)), &mut rng).unwrap();
        match i % 4 {
            1 => b.mark_attempt(&a, at(100 + u64::from(i))),
            2 => {
                b.mark_good(&id, at(200 + u64::from(i)));
            }
            _ => {}
        }
    }
    b
}

#[test]
fn round_trip_through_the_file_store_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config/addrbook.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let store = FileBookStore::new(&path, CLOCK);
    let original = book(40, 1);
    assert!(original.n_old() > 0 && original.n_new() > 0);
    store.try_save(&original).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n\t\"key\": \""), "{}", &text[..40]);
    let loaded = store
        .load_or_new(false, &mut ChaCha20Rng::seed_from_u64(9))
        .unwrap();
    assert_eq!(loaded.size(), 40);
    assert_eq!(
        (loaded.n_new(), loaded.n_old()),
        (original.n_new(), original.n_old())
    );
    assert_eq!(addrbook_file::to_json(&loaded, CLOCK), text);
    for ka in original.entries() {
        assert_eq!(loaded.get(&ka.addr().id()), Some(ka));
    }
    // Saving the loaded book writes the same bytes.
    store.try_save(&loaded).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_failed_save_keeps_the_previous_book() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("addrbook.json");
    let store = FileBookStore::new(&path, CLOCK);
    store.try_save(&book(5, 2)).unwrap();
    let before = std::fs::read(&path).unwrap();
    // The temporary file cannot be created: a directory sits at its name.
    let blocker = dir
        .path()
        .join(format!(".addrbook.json.tmp{}", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    let err = store.try_save(&book(30, 3)).unwrap_err();
    assert!(err.to_string().contains("addrbook.json"), "{err}");
    assert!(store.last_error().is_some());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A torn temporary file left by a crashed writer does not matter either.
    std::fs::write(
        dir.path().join(".addrbook.json.tmp99999"),
        &before[..before.len() / 2],
    )
    .unwrap();
    let loaded = addrbook_file::load(&path, CLOCK, false).unwrap().unwrap();
    assert_eq!(loaded.size(), 5);
    std::fs::remove_dir(&blocker).unwrap();
    store.try_save(&book(30, 3)).unwrap();
    assert_eq!(store.last_error(), None);
    assert_eq!(
        addrbook_file::load(&path, CLOCK, false)
            .unwrap()
            .unwrap()
            .size(),
        30
    );
}

/// The child of `a_crash_mid_save_leaves_a_loadable_book` (does nothing when
/// run as a normal test).
#[test]
fn crash_child_save_loop() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = FileBookStore::new(Path::new(&dir).join("addrbook.json"), CLOCK);
    let books = [book(10, 4), book(60, 5)];
    for i in 0.. {
        store.try_save(&books[i % 2]).unwrap();
    }
}

#[test]
fn a_crash_mid_save_leaves_a_loadable_book() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("addrbook.json");
    let exe = std::env::current_exe().unwrap();
    let mut sizes = Vec::new();
    for round in 0..12u64 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "crash_child_save_loop",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the first save of this child, then let it run a varying time.
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let before = mtime(&path);
        for _ in 0..200 {
            if mtime(&path) != before {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(1 + (round * 7) % 23));
        child.kill().unwrap();
        child.wait().unwrap();
        let b = addrbook_file::load(&path, CLOCK, false)
            .unwrap_or_else(|e| panic!("round {round}: book unreadable after a crash: {e}"))
            .expect("book exists");
        assert!(
            b.size() == 10 || b.size() == 60,
            "round {round}: {} entries",
            b.size()
        );
        sizes.push(b.size());
    }
    let torn = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")
        })
        .count();
    println!("after 12 crashes: book sizes {sizes:?}");
    // Loading removed the temp files the killed writers left behind.
    assert_eq!(torn, 0);
}
