//! The operator's privacy notice file (`--privacy-notice`, TOML): the
//! controller, the privacy contact, the DPO, the supervisory authority and
//! the notice's version, date and URL. A server that serves real users
//! refuses to start without one; the error names every missing field.
//!
//! ```toml
//! version = 3
//! published = "2026-11-30"
//! url = "https://example.org/privacy"
//!
//! [controller]
//! name = "Example Health Ltd"
//! address = "1 Example Street, 10115 Berlin, Germany"
//! registration_number = "HRB 123456"
//!
//! [privacy_contact]
//! email = "privacy@example.org"
//!
//! [dpo]
//! name = "Data Protection Officer"
//! email = "dpo@example.org"
//!
//! [supervisory_authority]
//! name = "Berliner Beauftragte für Datenschutz und Informationsfreiheit"
//! url = "https://www.datenschutz-berlin.de/"
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use praxis_protocol::notice::{Authority, Contact, Controller, PrivacyNotice};
use serde::Deserialize;

/// Longest accepted text field, in characters.
const MAX_TEXT: usize = 500;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Draft {
    version: Option<u32>,
    published: Option<NaiveDate>,
    url: Option<String>,
    #[serde(default)]
    controller: DraftController,
    #[serde(default)]
    privacy_contact: DraftContact,
    #[serde(default)]
    dpo: DraftContact,
    #[serde(default)]
    supervisory_authority: DraftAuthority,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DraftController {
    name: Option<String>,
    address: Option<String>,
    registration_number: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DraftContact {
    name: Option<String>,
    email: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DraftAuthority {
    name: Option<String>,
    url: Option<String>,
}

/// Every field a notice must have, as written in the file.
pub const REQUIRED: &[&str] = &[
    "version",
    "published",
    "url",
    "controller.name",
    "controller.address",
    "controller.registration_number",
    "privacy_contact.email",
    "dpo.email",
    "supervisory_authority.name",
    "supervisory_authority.url",
];

/// The notice in force, replaceable while the server runs (the operator
/// edits the file and sends `SIGHUP`: see [`NoticeCell::spawn_reloader`]).
#[derive(Debug, Clone)]
pub struct NoticeCell(Arc<RwLock<Arc<PrivacyNotice>>>);

impl NoticeCell {
    /// A cell holding `notice`.
    pub fn new(notice: PrivacyNotice) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(notice))))
    }

    /// The notice in force.
    pub fn get(&self) -> Arc<PrivacyNotice> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts `notice` in force.
    pub fn set(&self, notice: PrivacyNotice) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(notice);
    }

    /// Rereads `path` on every `SIGHUP`; a file that no longer parses
    /// keeps the notice in force (and says why in the log).
    pub fn spawn_reloader(&self, path: PathBuf) -> tokio::task::JoinHandle<()> {
        let cell = self.clone();
        // Installed now, before the server says it listens.
        #[cfg(unix)]
        let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        tokio::spawn(async move {
            #[cfg(unix)]
            if let Ok(mut hup) = hup {
                while hup.recv().await.is_some() {
                    match load(&path) {
                        Ok(n) => {
                            let version = n.version;
                            cell.set(n);
                            tracing::info!(version, "privacy notice reloaded");
                        }
                        Err(e) => tracing::warn!(
                            error = %e,
                            "privacy notice not reloaded: keeping the one in force"
                        ),
                    }
                }
            }
            #[cfg(not(unix))]
            let _ = (cell, path);
        })
    }
}

impl Default for NoticeCell {
    fn default() -> Self {
        Self::new(PrivacyNotice::development())
    }
}

/// Reads and checks the notice file.
pub fn load(path: &Path) -> anyhow::Result<PrivacyNotice> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading the privacy notice {}: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("the privacy notice {}: {e}", path.display()))
}

/// The message of a server started without a notice.
pub fn missing_message() -> String {
    format!(
        "no privacy notice: set PRAXIS_PRIVACY_NOTICE (or --privacy-notice) to a TOML file \
         with {} (see README, \"Privacy notice\"), or run with --dev for local development",
        REQUIRED.join(", ")
    )
}

/// Parses and checks a notice: every missing field is named at once; a
/// present one must be usable (non-empty, an email address, an https URL).
pub fn parse(text: &str) -> Result<PrivacyNotice, String> {
    let d: Draft = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    let present = [
        d.version.is_some(),
        d.published.is_some(),
        d.url.is_some(),
        d.controller.name.is_some(),
        d.controller.address.is_some(),
        d.controller.registration_number.is_some(),
        d.privacy_contact.email.is_some(),
        d.dpo.email.is_some(),
        d.supervisory_authority.name.is_some(),
        d.supervisory_authority.url.is_some(),
    ];
    let missing: Vec<&str> = REQUIRED
        .iter()
        .zip(present)
        .filter(|(_, p)| !p)
        .map(|(f, _)| *f)
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing {}", missing.join(", ")));
    }
    let mut bad = Vec::new();
    let mut text = |name: &str, v: Option<String>| -> String {
        let v = v.unwrap_or_default().trim().to_owned();
        if v.is_empty() || v.chars().count() > MAX_TEXT || v.chars().any(char::is_control) {
            bad.push(format!("{name} (1 to {MAX_TEXT} characters, one line)"));
        }
        v
    };
    let notice_url = text("url", d.url);
    let controller = Controller {
        name: text("controller.name", d.controller.name),
        address: text("controller.address", d.controller.address),
        registration_number: text(
            "controller.registration_number",
            d.controller.registration_number,
        ),
    };
    let mut contact = |prefix: &str, c: DraftContact| Contact {
        name: c.name.map(|n| text(&format!("{prefix}.name"), Some(n))),
        email: text(&format!("{prefix}.email"), c.email),
        address: c
            .address
            .map(|a| text(&format!("{prefix}.address"), Some(a))),
    };
    let privacy_contact = contact("privacy_contact", d.privacy_contact);
    let dpo = contact("dpo", d.dpo);
    let authority = Authority {
        name: text("supervisory_authority.name", d.supervisory_authority.name),
        url: text("supervisory_authority.url", d.supervisory_authority.url),
    };
    for (name, email) in [
        ("privacy_contact.email", &privacy_contact.email),
        ("dpo.email", &dpo.email),
    ] {
        if !email_address::EmailAddress::is_valid(email) {
            bad.push(format!("{name} (an email address)"));
        }
    }
    for (name, u) in [
        ("url", &notice_url),
        ("supervisory_authority.url", &authority.url),
    ] {
        if !url::Url::parse(u).is_ok_and(|u| u.scheme() == "https" && u.host().is_some()) {
            bad.push(format!("{name} (an https:// URL)"));
        }
    }
    if d.version == Some(0) {
        bad.push("version (1 or more; 0 is the development placeholder)".into());
    }
    if !bad.is_empty() {
        return Err(format!("invalid {}", bad.join(", ")));
    }
    Ok(PrivacyNotice {
        version: d.version.unwrap_or(1),
        published: d.published.unwrap_or_default(),
        url: notice_url,
        controller,
        privacy_contact,
        dpo,
        supervisory_authority: authority,
        consent_versions: Default::default(),
        development: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
version = 3
published = "2026-11-30"
url = "https://example.org/privacy"
[controller]
name = "Example Health Ltd"
address = "1 Example Street, Berlin"
registration_number = "HRB 123456"
[privacy_contact]
email = "privacy@example.org"
[dpo]
name = "Data Protection Officer"
email = "dpo@example.org"
[supervisory_authority]
name = "Berlin DPA"
url = "https://www.datenschutz-berlin.de/"
"#;

    #[test]
    fn a_complete_notice_parses() {
        let n = parse(FULL).expect("parses");
        assert_eq!(n.version, 3);
        assert_eq!(n.published.to_string(), "2026-11-30");
        assert_eq!(n.dpo.name.as_deref(), Some("Data Protection Officer"));
        assert!(n.privacy_contact.name.is_none());
        assert!(!n.development);
    }

    #[test]
    fn every_missing_field_is_named() {
        let e = parse("version = 2\n[controller]\nname = \"X\"\n").expect_err("incomplete");
        for f in REQUIRED
            .iter()
            .filter(|f| !["version", "controller.name"].contains(f))
        {
            assert!(e.contains(f), "{f} named in {e}");
        }
        assert!(!e.contains("controller.name"), "{e}");
        let e = parse("").expect_err("empty");
        assert_eq!(e, format!("missing {}", REQUIRED.join(", ")));
    }

    #[test]
    fn unusable_values_and_unknown_keys_are_refused() {
        let e = parse(&FULL.replace("https://example.org/privacy", "http://example.org"))
            .expect_err("plain http");
        assert!(e.contains("url (an https:// URL)"), "{e}");
        let e = parse(&FULL.replace("dpo@example.org", "not an address")).expect_err("email");
        assert!(e.contains("dpo.email"), "{e}");
        let e = parse(&FULL.replace("version = 3", "version = 0")).expect_err("zero");
        assert!(e.contains("version"), "{e}");
        let e = parse(&FULL.replace("HRB 123456", "  ")).expect_err("blank");
        assert!(e.contains("controller.registration_number"), "{e}");
        let e = parse(&format!("{FULL}\n[extra]\nx = 1\n")).expect_err("unknown");
        assert!(e.contains("extra"), "{e}");
    }
}
