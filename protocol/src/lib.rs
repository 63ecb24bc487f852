//! Wire types of the Praxis HTTP API, shared by the core (client) and the
//! server so that both sides serialise exactly the same shapes.
//!
//! Every type here is plain data: `serde` for JSON, behind the `openapi`
//! feature `utoipa` schemas for the server's OpenAPI document, and behind
//! the `uniffi` feature the declarations the apps' bindings use (see
//! `ffi.rs`).
//! Types that carry personal data or secrets implement `Debug` by hand and
//! print only non-personal fields, so a stray `{:?}` in a log cannot leak
//! an email address, a name or a token.
//!
//! ```
//! use praxis_protocol::{ErrorCode, Problem};
//! let p = Problem::new(ErrorCode::EmailTaken, 409, "Email already registered");
//! assert_eq!(serde_json::to_value(&p).unwrap()["code"], "email_taken");
//! ```

#![warn(missing_docs)]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

mod accounts;
pub mod audit;
pub mod contacts;
#[cfg(feature = "uniffi")]
mod ffi;
pub mod location;
pub mod notice;
mod orgs;
pub mod privacy;
mod problem;
mod sessions;
pub mod sync;

pub use accounts::{
    LoginRequest, Profile, ReauthRequest, RefreshRequest, RegisterRequest, RegisterResponse,
    TokenResponse, UpdateProfileRequest,
};
pub use orgs::{
    CreateOrgRequest, CreateOrgResponse, JoinCodeInfo, JoinCodeResponse, JoinOrgRequest,
    JoinOrgResponse, Member, Org, Role, UpdateMemberRequest, UpdateOrgRequest,
};
pub use problem::{ErrorCode, PROBLEM_CONTENT_TYPE, Problem};
pub use sessions::{
    ChangePasswordRequest, EmailVerificationConfirm, PasswordResetConfirm, PasswordResetRequest,
    Platform, SessionInfo, SessionList,
};

/// Prefix of every versioned route.
pub const API_PREFIX: &str = "/v1";

/// Writes a `Debug` implementation that names the type and shows only the
/// listed fields; every other field is elided, so personal data and secrets
/// never reach `{:?}` output.
#[macro_export]
macro_rules! redacted_debug {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl ::core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let name = ::core::any::type_name::<Self>().rsplit("::").next().unwrap_or("?");
                f.debug_struct(name)
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}
