//! Handshake messages: ephemeral key message + length-delimited AuthSig.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::handshake_messages(data) {
        panic!("{v}");
    }
});
