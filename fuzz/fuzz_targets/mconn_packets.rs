//! MConnection packet decoder and message reassembly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::mconn_input(data) {
        panic!("{v}");
    }
});
