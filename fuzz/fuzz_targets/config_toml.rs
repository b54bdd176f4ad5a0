//! config.toml parsing and validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = p2p::fuzz::files::config_toml(data) {
        panic!("{v}");
    }
});
