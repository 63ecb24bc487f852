pub use praxis_protocol as protocol;
