//! NetAddress from strings and from protobuf.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::net_address(data) {
        panic!("{v}");
    }
});
