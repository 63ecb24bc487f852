//! The core's integration tests as one test binary: the encrypted cache
//! through its public API, and its crash safety under SIGKILL.

mod cache;
mod cache_crash;
