//! node_key.json parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::files::node_key_json(data) {
        panic!("{v}");
    }
});
