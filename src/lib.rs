//! Countersign's core: every decision a desk verification makes, with no
//! window and no Tauri.
pub mod gateway;
pub mod phone;
