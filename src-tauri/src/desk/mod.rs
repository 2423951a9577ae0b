//! The Desk screen: who is at the desk (`session`), what the screen draws
//! and says (`status`), and the verifications themselves
//! (`verification`). Commands only: what they hold and run in the
//! background is the shell's.

pub(crate) mod session;
pub(crate) mod status;
pub(crate) mod verification;
