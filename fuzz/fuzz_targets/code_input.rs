//! Fuzz target `code_input`: see `countersign_fuzz::code_input` for what it feeds and checks.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| countersign_fuzz::code_input(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    countersign_fuzz::replay("code_input", countersign_fuzz::code_input);
}
