//! The `praxis` binary's tests as one test binary: a module per area, a
//! real server on loopback, the binary run as a child process.

mod cli;
mod common;
mod prompt;
mod walkthrough;
