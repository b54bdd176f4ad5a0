//! Scenario files: TOML parsing, validation, per-group configs, node plans.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = sim::fuzz::scenario(data) {
        panic!("{v}");
    }
});
