//! Records and enums mirrored from the core and the protocol.

use std::time::SystemTime;

use praxis_core::protocol;

/// How to reach the server.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientConfig {
    /// Base URL (`https://`, or `http://` to a loopback address).
    pub server_url: String,
    /// The app's private data directory.
    pub data_dir: String,
    /// Longest wait for one request, in milliseconds.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: u64,
    /// SHA-256 hashes of the server keys to pin (SPKI); empty: no pinning.
    #[uniffi(default = [])]
    pub spki_pins: Vec<Vec<u8>>,
}

/// Whether someone is signed in on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SessionState {
    /// No session.
    SignedOut,
    /// Signed in.
    SignedIn {
        /// The account id.
        user_id: String,
    },
    /// The server ended the session; ask the user to sign in again.
    NeedsReLogin,
}

impl From<praxis_core::SessionState> for SessionState {
    fn from(s: praxis_core::SessionState) -> Self {
        match s {
            praxis_core::SessionState::SignedOut => Self::SignedOut,
            praxis_core::SessionState::SignedIn { user_id } => Self::SignedIn {
                user_id: user_id.to_string(),
            },
            praxis_core::SessionState::NeedsReLogin => Self::NeedsReLogin,
        }
    }
}

/// What registration asks for.
#[derive(Clone, uniffi::Record)]
pub struct Registration {
    /// Email address.
    pub email: String,
    /// Password (8 to 128 characters, not weak).
    pub password: String,
    /// Full name.
    pub full_name: String,
    /// E.164 phone number.
    pub phone: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// BCP 47 language tag.
    pub language: String,
    /// Profession.
    pub profession: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").finish_non_exhaustive()
    }
}

impl From<Registration> for protocol::RegisterRequest {
    fn from(r: Registration) -> Self {
        Self {
            email: r.email,
            password: r.password,
            full_name: r.full_name,
            phone: r.phone,
            country: r.country,
            language: r.language,
            profession: r.profession,
            date_of_birth: r.date_of_birth,
        }
    }
}

/// The user's profile.
#[derive(Clone, uniffi::Record)]
pub struct Profile {
    /// Account id.
    pub user_id: String,
    /// Email address.
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// E.164 phone number.
    pub phone: String,
    /// Country code.
    pub country: String,
    /// Language tag.
    pub language: String,
    /// Profession.
    pub profession: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// Last change.
    pub updated_at: SystemTime,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl From<protocol::Profile> for Profile {
    fn from(p: protocol::Profile) -> Self {
        Self {
            user_id: p.user_id.to_string(),
            email: p.email,
            full_name: p.full_name,
            phone: p.phone,
            country: p.country,
            language: p.language,
            profession: p.profession,
            date_of_birth: p.date_of_birth.to_string(),
            updated_at: p.updated_at.into(),
        }
    }
}

/// Profile fields to rectify; `None` keeps the current value.
#[derive(Clone, Default, uniffi::Record)]
pub struct ProfileUpdate {
    /// New email.
    #[uniffi(default = None)]
    pub email: Option<String>,
    /// New full name.
    #[uniffi(default = None)]
    pub full_name: Option<String>,
    /// New phone.
    #[uniffi(default = None)]
    pub phone: Option<String>,
    /// New country.
    #[uniffi(default = None)]
    pub country: Option<String>,
    /// New language.
    #[uniffi(default = None)]
    pub language: Option<String>,
    /// New profession.
    #[uniffi(default = None)]
    pub profession: Option<String>,
    /// Corrected date of birth.
    #[uniffi(default = None)]
    pub date_of_birth: Option<String>,
}

impl std::fmt::Debug for ProfileUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileUpdate").finish_non_exhaustive()
    }
}

impl From<ProfileUpdate> for protocol::UpdateProfileRequest {
    fn from(u: ProfileUpdate) -> Self {
        Self {
            email: u.email,
            full_name: u.full_name,
            phone: u.phone,
            country: u.country,
            language: u.language,
            profession: u.profession,
            date_of_birth: u.date_of_birth,
        }
    }
}

/// A role in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// Manages the organisation.
    Admin,
    /// A practitioner.
    Member,
}

impl From<protocol::Role> for Role {
    fn from(r: protocol::Role) -> Self {
        match r {
            protocol::Role::Admin => Self::Admin,
            protocol::Role::Member => Self::Member,
        }
    }
}

/// An organisation the user belongs to.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Org {
    /// Id.
    pub org_id: String,
    /// Name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

impl From<protocol::Org> for Org {
    fn from(o: protocol::Org) -> Self {
        Self {
            org_id: o.org_id.to_string(),
            name: o.name,
            role: o.role.into(),
        }
    }
}

/// A member of an organisation.
#[derive(Clone, uniffi::Record)]
pub struct Member {
    /// Account id.
    pub user_id: String,
    /// Full name.
    pub full_name: String,
    /// Profession.
    pub profession: String,
    /// Role.
    pub role: Role,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl From<protocol::Member> for Member {
    fn from(m: protocol::Member) -> Self {
        Self {
            user_id: m.user_id.to_string(),
            full_name: m.full_name,
            profession: m.profession,
            role: m.role.into(),
        }
    }
}

/// A single-use join code.
#[derive(Clone, uniffi::Record)]
pub struct JoinCode {
    /// The code to hand over.
    pub code: String,
    /// When it stops working.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for JoinCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinCode").finish_non_exhaustive()
    }
}
