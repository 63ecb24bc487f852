//! Printing: human text by default, JSON with `--json`; errors that say
//! what to do next, and exit codes by kind.

use praxis_core::protocol::{JoinCodeResponse, Member, Org, Profile};
use serde_json::{Value, json};

mod contacts;
mod errors;
mod privacy;

pub(crate) use errors::fail;

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
}
