//! Fuzz target `purpose`: see `countersign_fuzz::purpose` for what it feeds and checks.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| countersign_fuzz::purpose(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    countersign_fuzz::replay("purpose", countersign_fuzz::purpose);
}
