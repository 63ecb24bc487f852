//! Credentials: password hashing and strength, opaque tokens, login
//! throttling.

pub mod password;
pub mod throttle;
pub mod tokens;
