//! stub: filled in by the gateway work.
