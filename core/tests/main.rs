//! The core's integration tests as one test binary: the encrypted cache
//! through its public API, its crash safety under SIGKILL, and random
//! damage to the cache file.

mod cache;
mod cache_crash;
mod cache_fuzz;
