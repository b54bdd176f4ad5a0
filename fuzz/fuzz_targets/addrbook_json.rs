//! addrbook.json loading (and save/load stability).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::files::addrbook_json(data) {
        panic!("{v}");
    }
});
