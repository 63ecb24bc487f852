//! Errors for the person at the terminal: advice in words by the error's
//! code, and exit codes by its kind.

use std::process::ExitCode;

use praxis_core::protocol::ErrorCode;
use praxis_core::protocol::privacy::Closed;
use praxis_core::{Error, NetworkError};
use serde_json::json;

/// The exit code of an error: by its kind, the classification the apps
/// share (see the table at the top of main.rs).
fn exit_code(e: &Error) -> u8 {
    use praxis_core::ErrorKind as K;
    match e.kind() {
        K::Unauthorized
        | K::InvalidCredentials
        | K::RateLimited { .. }
        | K::Forbidden
        | K::ConsentRequired { .. }
        | K::PolicyDisabled
        | K::Restricted => 3,
        K::Network(_) => 4,
        K::Conflict { .. } => 5,
        K::InvalidInput { .. } | K::NotFound => 6,
        K::KeyMismatch | K::Storage => 7,
        K::KeyProvider { .. } | K::Server { .. } => 1,
    }
}

/// What to tell the person: advice in words, by the error's code.
fn advice(e: &Error) -> String {
    match e {
        Error::NotSignedIn => "You are not signed in. Run `praxis login --email <address>`.".into(),
        Error::SessionExpired => "Your session has ended. Sign in again with `praxis login`.".into(),
        Error::Api { code: ErrorCode::InvalidCredentials, .. } => {
            "Wrong email or password. Check both and try again.".into()
        }
        Error::Api { code: ErrorCode::Unauthorized, .. } => "Not signed in. Run `praxis login`.".into(),
        Error::Api { code: ErrorCode::RateLimited, retry_after, .. } => format!("Too many attempts. Wait {} seconds and try again.", retry_after.unwrap_or(1)),
        Error::Network(kind) => match kind {
                NetworkError::Unreachable => "Cannot reach the server. Check --server and your connection.".into(),
                NetworkError::Timeout => "The server did not answer in time. Try again later.".into(),
                NetworkError::Tls => "The secure connection to the server failed.".into(),
                NetworkError::CertificateExpired => "The server's certificate has expired (or this computer's date is wrong).".into(),
                NetworkError::CertificateWrongHost => "The server's certificate is for another address. Check --server.".into(),
                NetworkError::CertificateUntrusted => "The server's certificate is not signed by a trusted authority.".into(),
                NetworkError::PinMismatch => "The server's key is not the pinned one: the connection may be intercepted.".into(),
                NetworkError::Interrupted => "The connection broke. Try again.".into(),
            },
        Error::Api {
            code: code @ (ErrorCode::EmailTaken | ErrorCode::AlreadyMember | ErrorCode::LastAdmin),
            ..
        } => match code {
                ErrorCode::EmailTaken => "An account already uses this email. Sign in instead.".into(),
                ErrorCode::AlreadyMember => "You are already a member of this organisation.".into(),
                _ => "An organisation needs at least one admin: promote someone first.".into(),
            },
        Error::Api {
            code: ErrorCode::TooYoung, ..
        } => "Praxis accounts are for people aged 18 or older.".into(),
        Error::Api {
            code: ErrorCode::WeakPassword,
            ..
        } => "Password too weak: use 8 to 128 characters that are not common words or your own details.".into(),
        Error::Api {
            code: ErrorCode::Forbidden, ..
        } => "Only an organisation admin can do that.".into(),
        Error::Api {
            code: code @ (ErrorCode::InvitationUsed | ErrorCode::InvitationExpired | ErrorCode::InvitationInvalid | ErrorCode::OwnInvitation),
            ..
        } => match code {
                ErrorCode::InvitationUsed => "This invitation was already used: ask for a new one.".into(),
                ErrorCode::InvitationExpired => "This invitation has expired: ask for a new one.".into(),
                ErrorCode::OwnInvitation => "This is your own invitation: send it to the colleague instead.".into(),
                _ => "This invitation code is not valid: check it was copied whole.".into(),
            },
        Error::Api {
            code: ErrorCode::LimitReached, field, ..
        } => format!(
            "You have reached the limit of {}: end or use some first.",
            field.as_deref().unwrap_or("this").replace('_', " ")
        ),
        Error::Api {
            code: ErrorCode::InvitationLimit, ..
        } => "You have too many open invitations: wait for some to be used or expire.".into(),
        Error::Api {
            code: ErrorCode::Blocked, ..
        } => "This is not possible with this person.".into(),
        Error::InvalidInput { field: "code", reason } => match *reason {
                "tampered_code" => "This invitation code was altered: ask for a new one. Nothing was sent.".into(),
                "forged_code" => "This invitation code was not made by this server. Nothing was sent.".into(),
                "invitation_expired" => "This invitation has expired: ask for a new one. Nothing was sent.".into(),
                _ => "This is not an invitation code: check it was copied whole. Nothing was sent.".into(),
            },
        Error::Api {
            code: ErrorCode::JoinCodeUsed | ErrorCode::JoinCodeExpired,
            ..
        } => "This join code was already used or has expired: ask an admin for a new one.".into(),
        Error::Api {
            code: ErrorCode::NotFound, ..
        } => "Not found: check the id or code.".into(),
        Error::Api {
            code: code @ (ErrorCode::ConsentRequired | ErrorCode::PolicyDisabled | ErrorCode::Restricted),
            ..
        } => format!("The server refused it ({code}): sync with `praxis sync`, then check `praxis location status`."),
        Error::Api {
            code: ErrorCode::ReauthRequired,
            ..
        } => "Confirm with your password first.".into(),
        Error::Api { code, field, .. } => match field {
                Some(f) => format!("The server refused `{f}` ({code}). Correct it and try again."),
                None => format!("The server refused the request ({code})."),
            },
        Error::InvalidInput { field, reason } => format!("Invalid {field}: {reason}."),
        Error::AccountErased => "This account was erased; the data on this device was wiped.".into(),
        Error::DeviceWiped => "This device was signed out from another device and its data was wiped; sign in again.".into(),
        Error::Restricted => "Your account is restricted: nothing is changed until you lift it (`praxis account restrict off`).".into(),
        Error::Closed { purpose, reason } => match reason {
                Closed::PolicyDisabled => format!(
                    "Your organisation does not allow {} (or you are in none). Nothing was stored.",
                    purpose.as_str()
                ),
                Closed::ConsentRequired => format!(
                    "You have not consented to {p}. Run `praxis consent grant {p}` first. Nothing was stored.",
                    p = purpose.as_str()
                ),
                Closed::Restricted => "Your account is restricted: nothing is processed. Nothing was stored.".into(),
            },
        Error::KeyMismatch => "Wrong passphrase for the local data (PRAXIS_PASSPHRASE or the prompt).".into(),
        Error::Storage(_) | Error::Integrity { .. } | Error::Io(_) => {
            "The local data could not be read or written.".into()
        }
        other => other.to_string(),
    }
}

/// Prints the error (stderr, or JSON on stdout) and returns its exit code.
pub(crate) fn fail(e: &Error, json: bool) -> ExitCode {
    let code = exit_code(e);
    let advice = advice(e);
    if json {
        println!(
            "{}",
            json!({ "error": e.to_string(), "advice": advice, "exit_code": code })
        );
    } else {
        eprintln!("praxis: {advice}");
    }
    ExitCode::from(code)
}
