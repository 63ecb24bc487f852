//! Printing: human text by default, JSON with `--json`; errors that say
//! what to do next, and exit codes by kind.

use std::process::ExitCode;

use praxis_core::protocol::{ErrorCode, JoinCodeResponse, Member, Org, Profile};
use praxis_core::{Error, NetworkError};
use serde_json::{Value, json};

pub(crate) struct Out {
    pub(crate) json: bool,
}

impl Out {
    fn print(&self, human: &str, machine: Value) {
        if self.json {
            println!("{machine}");
        } else {
            println!("{human}");
        }
    }

    pub(crate) fn done(&self, human: &str, machine: Value) {
        self.print(human, machine);
    }

    pub(crate) fn whoami(&self, user_id: uuid::Uuid, profile: Option<&Profile>) {
        let name = profile.map_or("", |p| p.full_name.as_str());
        let email = profile.map_or("", |p| p.email.as_str());
        self.print(
            &format!("Signed in as {name} <{email}> ({user_id})"),
            json!({ "user_id": user_id, "email": email, "full_name": name }),
        );
    }

    pub(crate) fn profile(&self, p: &Profile) {
        let human = format!(
            "Name:          {}\nEmail:         {}\nPhone:         {}\nCountry:       {}\nLanguage:      {}\nProfession:    {}\nDate of birth: {}\nAccount id:    {}",
            p.full_name,
            p.email,
            p.phone,
            p.country,
            p.language,
            p.profession,
            p.date_of_birth,
            p.user_id
        );
        self.print(&human, serde_json::to_value(p).unwrap_or(Value::Null));
    }

    pub(crate) fn join_code(&self, c: &JoinCodeResponse) {
        self.print(
            &format!(
                "Join code: {}\nValid until {} (single use)",
                c.code, c.expires_at
            ),
            serde_json::to_value(c).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn members(&self, members: &[Member]) {
        let human = members
            .iter()
            .map(|m| {
                format!(
                    "{:<8} {}  {} ({})",
                    m.role.as_str(),
                    m.user_id,
                    m.full_name,
                    m.profession
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(&human, serde_json::to_value(members).unwrap_or(Value::Null));
    }

    pub(crate) fn orgs(&self, orgs: &[Org]) {
        let human = if orgs.is_empty() {
            "You are not a member of any organisation.".to_owned()
        } else {
            orgs.iter()
                .map(|o| format!("{}  {}  ({})", o.org_id, o.name, o.role.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.print(&human, serde_json::to_value(orgs).unwrap_or(Value::Null));
    }
}

impl Out {
    pub(crate) fn appointments(&self, list: &[praxis_core::Appointment]) {
        let human = if list.is_empty() {
            "No visits.".to_owned()
        } else {
            list.iter()
                .map(|a| {
                    format!(
                        "{}  {}  {:>4} min  {:<10} {}{}",
                        a.id,
                        a.start.format("%Y-%m-%d %H:%M"),
                        a.duration_min,
                        format!("{:?}", a.status).to_lowercase(),
                        a.title,
                        a.address
                            .as_deref()
                            .map(|x| format!(" — {x}"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let machine: Vec<Value> = list
            .iter()
            .map(|a| {
                json!({
                    "id": a.id, "title": a.title, "patient_label": a.patient_label, "start": a.start,
                    "duration_min": a.duration_min, "status": format!("{:?}", a.status).to_lowercase(),
                    "address": a.address,
                })
            })
            .collect();
        self.print(&human, Value::Array(machine));
    }

    pub(crate) fn sync(&self, s: &praxis_core::sync::SyncStatus) {
        let human = match s.state {
            praxis_core::sync::SyncState::Idle => "Up to date.".to_owned(),
            other => format!(
                "Sync incomplete ({other:?}); {} change(s) still queued.",
                s.pending
            ),
        };
        self.print(
            &human,
            json!({ "state": format!("{:?}", s.state).to_lowercase(), "pending": s.pending, "last_success": s.last_success }),
        );
    }
}

/// Exit code and advice for an error.
fn classify(e: &Error) -> (u8, String) {
    match e {
        Error::NotSignedIn => (3, "You are not signed in. Run `praxis login --email <address>`.".into()),
        Error::SessionExpired => (3, "Your session has ended. Sign in again with `praxis login`.".into()),
        Error::Api { code: ErrorCode::InvalidCredentials, .. } => {
            (3, "Wrong email or password. Check both and try again.".into())
        }
        Error::Api { code: ErrorCode::Unauthorized, .. } => (3, "Not signed in. Run `praxis login`.".into()),
        Error::Api { code: ErrorCode::RateLimited, retry_after, .. } => (
            3,
            format!("Too many attempts. Wait {} seconds and try again.", retry_after.unwrap_or(1)),
        ),
        Error::Network(kind) => (
            4,
            match kind {
                NetworkError::Unreachable => "Cannot reach the server. Check --server and your connection.".into(),
                NetworkError::Timeout => "The server did not answer in time. Try again later.".into(),
                NetworkError::Tls => "The server's certificate was not trusted.".into(),
                NetworkError::Interrupted => "The connection broke. Try again.".into(),
            },
        ),
        Error::Api {
            code: code @ (ErrorCode::EmailTaken | ErrorCode::AlreadyMember | ErrorCode::LastAdmin),
            ..
        } => (
            5,
            match code {
                ErrorCode::EmailTaken => "An account already uses this email. Sign in instead.".into(),
                ErrorCode::AlreadyMember => "You are already a member of this organisation.".into(),
                _ => "An organisation needs at least one admin: promote someone first.".into(),
            },
        ),
        Error::Api {
            code: ErrorCode::TooYoung, ..
        } => (6, "Praxis accounts are for people aged 18 or older.".into()),
        Error::Api {
            code: ErrorCode::WeakPassword,
            ..
        } => (
            6,
            "Password too weak: use 8 to 128 characters that are not common words or your own details.".into(),
        ),
        Error::Api {
            code: ErrorCode::Forbidden, ..
        } => (3, "Only an organisation admin can do that.".into()),
        Error::Api {
            code: ErrorCode::JoinCodeUsed | ErrorCode::JoinCodeExpired,
            ..
        } => (
            6,
            "This join code was already used or has expired: ask an admin for a new one.".into(),
        ),
        Error::Api {
            code: ErrorCode::NotFound, ..
        } => (6, "Not found: check the id or code.".into()),
        Error::Api { code, field, .. } => (
            6,
            match field {
                Some(f) => format!("The server refused `{f}` ({code}). Correct it and try again."),
                None => format!("The server refused the request ({code})."),
            },
        ),
        Error::InvalidInput { field, reason } => (6, format!("Invalid {field}: {reason}.")),
        Error::KeyMismatch => (
            7,
            "Wrong passphrase for the local data (PRAXIS_PASSPHRASE or the prompt).".into(),
        ),
        Error::Storage(_) | Error::Integrity { .. } | Error::Io(_) => {
            (7, "The local data could not be read or written.".into())
        }
        other => (1, other.to_string()),
    }
}

/// Prints the error (stderr, or JSON on stdout) and returns its exit code.
pub(crate) fn fail(e: &Error, json: bool) -> ExitCode {
    let (code, advice) = classify(e);
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
