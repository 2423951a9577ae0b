//! Countersign's core: every decision a desk verification makes, with no
//! window and no Tauri.
//!
//! The story of one verification: staff type a number ([`phone`]) and a
//! purpose ([`purpose`]); the [`desk`] engine makes a [`code`], keeps only its
//! keyed digest ([`keys`]), renders the SMS ([`sms`]) and hands it to the
//! caller to send through a [`gateway`]; the customer reads the code back and
//! the desk checks it under the limits of the [`policy`]. Every change is
//! saved atomically ([`persist`]) and audited ([`audit`]), with time from an
//! injected [`clock`].

pub mod audit;
pub mod branch;
pub mod clock;
pub mod code;
pub mod config;
pub mod desk;
pub mod facts;
pub mod folder_lock;
pub mod gateway;
pub mod i18n;
pub mod journal;
pub mod keys;
pub mod language;
pub mod limits;
pub mod logfile;
pub mod persist;
pub mod phone;
pub mod policy;
pub mod purpose;
pub mod recovery;
pub mod secrets;
pub mod sms;
pub mod support;
pub mod templates;
pub mod verification;
