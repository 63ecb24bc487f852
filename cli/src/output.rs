//! Printing: human text by default, JSON with `--json`; errors that say
//! what to do next, and exit codes by kind.

use std::process::ExitCode;

use praxis_core::protocol::audit::AuditEntry;
use praxis_core::protocol::contacts::{ContactCard, Holder};
use praxis_core::protocol::privacy::{
    Closed, LocationPolicy, PolicyChange, SharedLocation, consents,
};
use praxis_core::protocol::{ErrorCode, JoinCodeResponse, Member, Org, Profile};
use praxis_core::{Error, NetworkError};
use serde_json::{Value, json};

pub(crate) struct Out {
    pub(crate) json: bool,
}

impl Out {
    pub(crate) fn print(&self, human: &str, machine: Value) {
        if self.json {
            println!("{machine}");
        } else {
            println!("{human}");
        }
    }

    pub(crate) fn done(&self, human: &str, machine: Value) {
        self.print(human, machine);
    }

    /// A progress indicator on standard error for a long operation: drawn
    /// only for a person at a terminal (hidden with `--json` or when
    /// standard error is not a terminal, so scripts see nothing).
    pub(crate) fn progress(&self, message: &'static str, bytes: bool) -> indicatif::ProgressBar {
        use std::io::IsTerminal as _;
        if self.json || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(message);
        bar.set_style(
            indicatif::ProgressStyle::with_template(if bytes {
                "{spinner} {msg}: {binary_bytes} ({elapsed})"
            } else {
                "{spinner} {msg} ({elapsed})"
            })
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.tick(); // drawn now, not at the first tick of the timer
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
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

    pub(crate) fn join_codes(&self, codes: &[praxis_core::protocol::JoinCodeInfo]) {
        let human = if codes.is_empty() {
            "No open join code.".to_owned()
        } else {
            codes
                .iter()
                .map(|c| format!("{}  by {}  expires {}", c.id, c.created_by, c.expires_at))
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.print(&human, serde_json::to_value(codes).unwrap_or(Value::Null));
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
                        a.status.as_str(),
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
                    "duration_min": a.duration_min, "status": a.status.as_str(),
                    "address": a.address,
                })
            })
            .collect();
        self.print(&human, Value::Array(machine));
    }

    /// The sync outcome; `skew` is how far the server's clock is ahead of
    /// this device's, when the device clock is found to be off.
    pub(crate) fn sync(&self, s: &praxis_core::sync::SyncStatus, skew: Option<chrono::Duration>) {
        let mut human = match s.state {
            praxis_core::sync::SyncState::Idle if s.received > 0 => {
                format!("Up to date; {} change(s) received.", s.received)
            }
            praxis_core::sync::SyncState::Idle => "Up to date.".to_owned(),
            other => format!(
                "Sync incomplete ({other:?}); {} change(s) still queued.",
                s.pending
            ),
        };
        if let Some(skew) = skew {
            let minutes = skew.num_minutes().abs();
            let (h, m) = (minutes / 60, minutes % 60);
            let way = if skew < chrono::Duration::zero() {
                "ahead of"
            } else {
                "behind"
            };
            human.push_str(&format!(
                "\nThis device's clock is {h} h {m} min {way} the server's; Praxis uses the server's time. Check the date and time settings."
            ));
        }
        self.print(
            &human,
            json!({
                "state": format!("{:?}", s.state).to_lowercase(),
                "pending": s.pending,
                "received": s.received,
                "last_success": s.last_success,
                "clock_skew_s": skew.map(|d| d.num_seconds()),
            }),
        );
    }
}

impl Out {
    pub(crate) fn location_policy(&self, p: &LocationPolicy) {
        let on = |b: bool| if b { "on" } else { "off" };
        self.print(
            &format!(
                "Visit verification: {}\nLive sharing:       {}\nFinest precision:   {}\nRaw fixes kept:     {} days\nVisit records kept: {} days\nLast changed:       {}{}",
                on(p.location_visits),
                on(p.location_sharing),
                p.max_precision.as_str(),
                p.retention_days,
                p.visit_records_days,
                p.updated_at,
                p.updated_by.map(|u| format!(" by {u}")).unwrap_or_default()
            ),
            serde_json::to_value(p).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn policy_changes(&self, changes: &[PolicyChange]) {
        let human = changes
            .iter()
            .map(|c| {
                format!(
                    "{}  by {}{}  {}",
                    c.at,
                    c.actor_id,
                    c.member_id.map(|m| format!(" for {m}")).unwrap_or_default(),
                    c.change
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No changes yet."
            } else {
                &human
            },
            serde_json::to_value(changes).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn notice(&self, status: &praxis_core::NoticeStatus) {
        let n = &status.notice;
        let contact = |c: &praxis_core::protocol::notice::Contact| match &c.name {
            Some(name) => format!("{name} <{}>", c.email),
            None => c.email.clone(),
        };
        let mut human = Vec::new();
        if n.development {
            human.push("DEVELOPMENT SERVER: no privacy notice is configured.".to_owned());
        }
        if status.changed {
            human.push("Our privacy notice has changed since you last saw it.".to_owned());
        }
        human.extend([
            format!(
                "Privacy notice v{} of {} ({})",
                n.version, n.published, n.url
            ),
            format!(
                "Controller:            {}, {} (reg. {})",
                n.controller.name, n.controller.address, n.controller.registration_number
            ),
            format!("Privacy contact:       {}", contact(&n.privacy_contact)),
            format!("Data protection officer: {}", contact(&n.dpo)),
            format!(
                "Complaints:            {} ({})",
                n.supervisory_authority.name, n.supervisory_authority.url
            ),
        ]);
        let mut machine = serde_json::to_value(n).unwrap_or(Value::Null);
        machine["changed"] = Value::Bool(status.changed);
        self.print(&human.join("\n"), machine);
    }

    pub(crate) fn post_mortem(&self, d: &praxis_core::protocol::notice::PostMortemDirective) {
        use praxis_core::protocol::notice::PostMortemAction;
        let human = match (&d.action, &d.recipient, d.updated_at) {
            (PostMortemAction::Erase, _, None) => {
                "After your death your data is erased (the default: you set no directive)."
                    .to_owned()
            }
            (PostMortemAction::Erase, _, Some(_)) => {
                "After your death your data is erased (your directive).".to_owned()
            }
            (PostMortemAction::HandOver, Some(r), _) => format!(
                "After your death a copy of your data goes to {} <{}>{}, then it is erased.",
                r.name,
                r.email,
                if d.message.is_some() {
                    " with your message"
                } else {
                    ""
                }
            ),
            (PostMortemAction::HandOver, None, _) => "Hand-over without a recipient".to_owned(),
        };
        self.print(&human, serde_json::to_value(d).unwrap_or(Value::Null));
    }

    pub(crate) fn objections(&self, list: &[praxis_core::protocol::notice::Objection]) {
        let human = list
            .iter()
            .map(|o| {
                let mut s = format!(
                    "{:<18} {}\n  {}",
                    o.basis,
                    if o.objected {
                        "objected"
                    } else {
                        "not objected"
                    },
                    o.processing
                );
                for stop in &o.stops {
                    s.push_str(&format!("\n  an objection stops: {stop}"));
                }
                if let Some(why) = &o.continues {
                    s.push_str(&format!("\n  goes on despite an objection: {why}"));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(&human, serde_json::to_value(list).unwrap_or(Value::Null));
    }

    pub(crate) fn consents(&self, list: &[praxis_core::ConsentStatus]) {
        let human = list
            .iter()
            .map(|c| {
                let state = match (c.granted, c.needs_reconsent, c.given_version) {
                    (true, _, _) => "granted".to_owned(),
                    (false, true, _) => format!(
                        "needs your consent again (policy v{} replaced v{})",
                        c.current_version,
                        c.given_version.unwrap_or(0)
                    ),
                    (false, false, Some(_)) => "withdrawn".to_owned(),
                    (false, false, None) => "not given".to_owned(),
                };
                format!("{:<18} {state}", c.purpose.as_str())
            })
            .collect::<Vec<_>>()
            .join("\n");
        let machine: Vec<Value> = list
            .iter()
            .map(|c| {
                json!({
                    "purpose": c.purpose, "granted": c.granted, "given_version": c.given_version,
                    "current_version": c.current_version, "needs_reconsent": c.needs_reconsent,
                    "updated_at": c.updated_at,
                })
            })
            .collect();
        self.print(&human, Value::Array(machine));
    }

    pub(crate) fn consent_history(&self, list: &[consents::Entry]) {
        let human = list
            .iter()
            .map(|e| {
                format!(
                    "{}  {:<18} {} (policy v{})",
                    e.at,
                    e.purpose.as_str(),
                    if e.granted { "granted" } else { "withdrawn" },
                    e.policy_version
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No consent recorded yet."
            } else {
                &human
            },
            serde_json::to_value(list).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn permissions(&self, list: &[praxis_core::LocationPermission]) {
        let human = list
            .iter()
            .map(|p| {
                let state = match p.closed {
                    None => format!("allowed ({})", p.precision.as_str()),
                    Some(Closed::PolicyDisabled) => {
                        "off: your organisation does not allow it".into()
                    }
                    Some(Closed::ConsentRequired) => format!(
                        "off: run `praxis consent grant {}` to allow it",
                        p.purpose.as_str()
                    ),
                    Some(Closed::Restricted) => "off: your account is restricted".into(),
                };
                format!("{:<18} {state}", p.purpose.as_str())
            })
            .collect::<Vec<_>>()
            .join("\n");
        let machine: Vec<Value> = list
            .iter()
            .map(|p| {
                json!({
                    "purpose": p.purpose, "closed": p.closed, "precision": p.precision,
                    "organisation_allows": p.organisation_allows, "consented": p.consented,
                    "restricted": p.restricted, "max_precision": p.max_precision,
                    "retention_days": p.retention_days,
                })
            })
            .collect();
        self.print(&human, Value::Array(machine));
    }

    pub(crate) fn visit_event(&self, e: &praxis_core::VisitEvent) {
        let where_ = match (e.inside, e.distance_m) {
            (Some(true), _) => "inside the visit's area".to_owned(),
            (Some(false), Some(d)) => format!("{d:.0} m outside the visit's area"),
            _ => "no area set for this visit".to_owned(),
        };
        self.print(
            &format!(
                "{} recorded at {}: {where_}; it syncs with `praxis sync`.",
                match e.kind {
                    praxis_core::VisitKind::CheckIn => "Check-in",
                    praxis_core::VisitKind::CheckOut => "Check-out",
                },
                e.at
            ),
            json!({
                "id": e.id, "appointment_id": e.appointment_id, "at": e.at,
                "inside": e.inside, "distance_m": e.distance_m, "precision": e.precision,
            }),
        );
    }

    pub(crate) fn card(&self, c: &ContactCard) {
        let line =
            |k: &str, v: Option<&str>| v.map(|v| format!("\n{k:<15}{v}")).unwrap_or_default();
        let langs = c.languages.join(", ");
        let human = format!(
            "Name:          {}{}{}{}{}{}{}{}",
            c.display_name,
            line("Profession:", c.profession.as_deref()),
            line("Specialty:", c.specialty.as_deref()),
            line("Work phone:", c.work_phone.as_deref()),
            line("Work email:", c.work_email.as_deref()),
            line("Organisation:", c.organisation.as_deref()),
            line("Address:", c.clinic_address.as_deref()),
            line("Languages:", (!langs.is_empty()).then_some(langs.as_str())),
        );
        self.print(&human, serde_json::to_value(c).unwrap_or(Value::Null));
    }

    pub(crate) fn contacts(&self, list: &[praxis_core::Contact]) {
        let human = list
            .iter()
            .map(|c| {
                let detail = [
                    c.card.profession.as_deref(),
                    c.card.organisation.as_deref(),
                    c.card.work_phone.as_deref(),
                    c.card.work_email.as_deref(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
                format!("{} ({})  {detail}", c.card.display_name, c.owner_id)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let machine: Vec<Value> = list
            .iter()
            .map(|c| {
                json!({
                    "owner_id": c.owner_id, "card": c.card, "shared_fields": c.shared_fields,
                    "allow_forward": c.allow_forward, "forwarded_by": c.forwarded_by,
                })
            })
            .collect();
        self.print(
            if human.is_empty() {
                "No cards shared with you yet."
            } else {
                &human
            },
            Value::Array(machine),
        );
    }

    pub(crate) fn audit(&self, list: &[AuditEntry]) {
        let human = list
            .iter()
            .map(|e| format!("{}  {}  {}", e.at, e.event, e.details))
            .collect::<Vec<_>>()
            .join("\n");
        self.print(&human, serde_json::to_value(list).unwrap_or(Value::Null));
    }

    pub(crate) fn sessions(&self, list: &[praxis_core::protocol::SessionInfo]) {
        let human = list
            .iter()
            .map(|s| {
                format!(
                    "{} {}  {}  {}  signed in {}, last used {}",
                    if s.current { "*" } else { " " },
                    s.id,
                    s.platform.map_or("-", |p| p.as_str()),
                    s.device_name.as_deref().unwrap_or("(unnamed)"),
                    s.created_at.format("%Y-%m-%d %H:%M"),
                    s.last_used_at.format("%Y-%m-%d %H:%M"),
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(&human, serde_json::to_value(list).unwrap_or(Value::Null));
    }

    pub(crate) fn holders(&self, list: &[Holder]) {
        let human = list
            .iter()
            .map(|h| {
                format!(
                    "{} sees {}{}",
                    h.holder_id,
                    h.fields.join(", "),
                    h.forwarded_by
                        .map(|f| format!(" (forwarded by {f})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No one holds your card."
            } else {
                &human
            },
            serde_json::to_value(list).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn shared_with_me(&self, list: &[SharedLocation]) {
        let human = list
            .iter()
            .map(|s| {
                let pos = s.position.as_ref().map_or_else(
                    || "no position yet".to_owned(),
                    |p| {
                        format!(
                            "{:.5}, {:.5} (±{:.0} m at {})",
                            p.lat, p.lon, p.accuracy_m, p.at
                        )
                    },
                );
                format!("{} until {}: {pos}", s.full_name, s.expires_at)
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No one shares a location with you now."
            } else {
                &human
            },
            serde_json::to_value(list).unwrap_or(Value::Null),
        );
    }
}

/// Exit code and advice for an error.
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
