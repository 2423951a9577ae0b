//! Fuzz target `policy_file`: see `countersign_fuzz::policy_file` for what it feeds and checks.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| countersign_fuzz::policy_file(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    countersign_fuzz::replay("policy_file", countersign_fuzz::policy_file);
}
