//! Credentials: password hashing and strength, opaque tokens, login
//! throttling.

pub mod password;
pub mod pool;
pub mod throttle;
pub mod tokens;
