//! Fuzz target `restcomm_answer`: see `countersign_fuzz::restcomm_answer` for what it feeds and checks.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| countersign_fuzz::restcomm_answer(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    countersign_fuzz::replay("restcomm_answer", countersign_fuzz::restcomm_answer);
}
