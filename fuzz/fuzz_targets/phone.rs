//! Fuzz target `phone`: see `countersign_fuzz::phone` for what it feeds and checks.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| countersign_fuzz::phone(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    countersign_fuzz::replay("phone", countersign_fuzz::phone);
}
