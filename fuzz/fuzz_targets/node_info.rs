//! NodeInfo: decode, validate, compatibility, transport checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::node_info(data) {
        panic!("{v}");
    }
});
