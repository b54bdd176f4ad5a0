//! `node_key.json` and `addrbook.json` survive a writer killed mid-save: a
//! child process (this test binary, re-run) saves two versions of both files
//! in a tight loop; it is SIGKILLed at varying moments, and after every kill
//! both files must parse as one of the two versions. Loading then removes the
//! temp files the killed writer left behind.

#![allow(clippy::disallowed_methods)] // wall-clock waits and a child process

use std::path::Path;
use std::time::Duration;

use p2p::netaddr::NetAddress;
use p2p::pex::addrbook::AddrBook;
use p2p::pex::addrbook_file::{self, WallClock};
use p2p::time::Instant;
use p2p::NodeKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const CLOCK: WallClock = WallClock {
    epoch_unix_nanos: 1_767_225_600_000_000_000,
};
const CHILD_ENV: &str = "P2P_CRASH_SAFE_FILES_DIR";

fn book(n: u8) -> AddrBook {
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(n));
    let mut b = AddrBook::new(false, &mut rng);
    for i in 0..n {
        let id = NodeKey::from_seed([i; 32]).node_id();
        let a = NetAddress::new(id, [10, i, 1, 2].into(), 26656);
        let src = NetAddress::new(
            NodeKey::from_seed([200; 32]).node_id(),
            [10, 9, 9, 9].into(),
            1,
        );
        let now = Instant::from_epoch(Duration::from_secs(u64::from(i)));
        b.add_address(a, src, now, &mut rng).unwrap();
    }
    b
}

fn keys() -> [NodeKey; 2] {
    [NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32])]
}

/// The child of `killed_writers_leave_loadable_files` (does nothing when run
/// as a normal test).
#[test]
fn crash_child_save_loop() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let books = [book(5), book(80)];
    let keys = keys();
    for i in 0.. {
        keys[i % 2].save(&dir.join("node_key.json")).unwrap();
        addrbook_file::save(&books[i % 2], &dir.join("addrbook.json"), CLOCK).unwrap();
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    v.sort();
    v
}

#[test]
fn killed_writers_leave_loadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("node_key.json");
    let book_path = dir.path().join("addrbook.json");
    let exe = std::env::current_exe().unwrap();
    let ids = keys().map(|k| k.node_id());
    let mut left_behind = 0;
    for round in 0..16u64 {
        let mut child = std::process::Command::new(&exe)
            .args(["crash_child_save_loop", "--exact", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for this child's first saves, then let it run a varying time.
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let before = (mtime(&key_path), mtime(&book_path));
        for _ in 0..400 {
            if mtime(&key_path) != before.0 && mtime(&book_path) != before.1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(1 + (round * 7) % 23));
        child.kill().unwrap();
        child.wait().unwrap();
        left_behind += temp_files(dir.path()).len();
        let key = NodeKey::load(&key_path)
            .unwrap_or_else(|e| panic!("round {round}: key unreadable after a crash: {e}"));
        assert!(ids.contains(&key.node_id()), "round {round}");
        let b = addrbook_file::load(&book_path, CLOCK, false)
            .unwrap_or_else(|e| panic!("round {round}: book unreadable after a crash: {e}"))
            .unwrap();
        assert!(
            b.size() == 5 || b.size() == 80,
            "round {round}: {}",
            b.size()
        );
        // Both loads removed whatever temp files the dead writer left.
        assert_eq!(
            temp_files(dir.path()),
            Vec::<String>::new(),
            "round {round}"
        );
    }
    println!("16 kills; {left_behind} temp files left by killed writers were removed on load");
}
