//! Logging to the app.
//!
//! The app hands in a [`Logger`] (in the bindings, a foreign callback); the
//! core reports what it does through it. Every message is built from
//! static text and non-personal values (ids, counts, status codes): never an
//! email, a name, a token, a location or a key.

use std::sync::Arc;

/// Severity of a log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something unexpected that the core handled.
    Warn,
    /// A notable step (signed in, synced).
    Info,
    /// Detail for debugging.
    Debug,
}

/// Receives the core's log messages.
pub trait Logger: Send + Sync + std::fmt::Debug {
    /// One message; `target` names the capability (`account`, `cache`, …).
    fn log(&self, level: LogLevel, target: &str, message: &str);
}

/// The core's handle on the optional app logger.
#[derive(Debug, Clone, Default)]
pub(crate) struct Log(Option<Arc<dyn Logger>>);

impl Log {
    pub(crate) fn new(logger: Option<Arc<dyn Logger>>) -> Self {
        Self(logger)
    }

    pub(crate) fn at(&self, level: LogLevel, target: &str, message: &str) {
        if let Some(l) = &self.0 {
            l.log(level, target, message);
        }
    }

    pub(crate) fn info(&self, target: &str, message: &str) {
        self.at(LogLevel::Info, target, message);
    }

    pub(crate) fn warn(&self, target: &str, message: &str) {
        self.at(LogLevel::Warn, target, message);
    }
}
