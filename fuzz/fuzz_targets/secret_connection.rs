//! SecretConnection frame reader: ciphertext streams, write/read round trips, raw frames.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::secret_connection(data) {
        panic!("{v}");
    }
});
