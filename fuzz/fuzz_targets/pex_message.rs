//! PEX message bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::pex_message(data) {
        panic!("{v}");
    }
});
