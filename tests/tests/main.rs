//! The end-to-end and API suites as one test binary (one link instead of
//! one per file): a module per area, each against a real server on
//! loopback. `logs` stays a binary of its own because it installs the
//! process-wide log subscriber it scans.

mod accounts;
mod audit;
mod authz;
mod changes;
mod client;
mod consent_uses;
mod contacts_api;
mod contacts_e2e;
mod credentials;
mod erasure;
mod export;
mod fuzz;
mod http;
mod live_sync;
mod location_e2e;
mod location_prop;
mod metrics;
mod notice;
mod objections;
mod orgs;
mod post_mortem;
mod privacy_api;
mod purpose_erasure;
mod rectification;
mod register;
mod replicas;
mod server_at_rest;
mod sessions;
mod slow_clients;
mod store;
mod sync_api;
mod sync_crash;
mod sync_e2e;
mod sync_sim;
mod tls;
mod wakeups;
