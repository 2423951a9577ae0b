//! The Settings screen and the configuration behind it.
//!
//! - `commands`: the screen's read, check-as-typed and save commands; a
//!   save is the core's `config::plan_save`, carried out.
//! - `test_sms`: "Send a test SMS" and its delivery status.
//! - `sources`: the configuration the running app holds (IT policy,
//!   environment, saved values, credential store, sealed facts) and the token.
//! - `file`: `settings.json`, the values saved from this screen.
//! - `apply`: putting a configuration in force, at start and after a save.
//! - `gateway`: building the gateway client (real, or demo's emulator).
//!
//! Every rule is the core's (`countersign::config`); this folder reads,
//! writes and wires.

pub(crate) mod apply;
pub(crate) mod commands;
// Public while `state::Shell` shows its parts as fields.
pub mod file;
pub mod gateway;
pub mod sources;
pub(crate) mod test_sms;

pub use file::SettingsFile;
pub(crate) use file::{default_operator, default_workstation};
pub use sources::ConfigState;
