//! The desktop entry point: everything is `countersign_desk::run`.

// Keeps a console window from opening beside the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    countersign_desk::run();
}
