//! One module per command group; each runs its commands on the core and
//! prints through `Out`.

pub(crate) mod account;
pub(crate) mod appointments;
pub(crate) mod consent;
pub(crate) mod contacts;
pub(crate) mod export;
pub(crate) mod location;
pub(crate) mod org;
pub(crate) mod sync;
