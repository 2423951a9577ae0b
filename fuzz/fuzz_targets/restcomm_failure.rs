//! Fuzz target `restcomm_failure`: see `countersign_fuzz::restcomm_failure` for what it feeds and checks.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| countersign_fuzz::restcomm_failure(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    countersign_fuzz::replay("restcomm_failure", countersign_fuzz::restcomm_failure);
}
