//! Operator commands (`praxis-server admin …`): acting on one account on a
//! request that arrived outside the apps (a rights request by email, a
//! reported minor, a deceased user). Each runs against the database with
//! the master key (the binary refuses to start without one), finds the
//! account by id or email, and leaves an audit entry with the operator's
//! stated reason (a fixed word, never free text: the audit log holds ids
//! and flags only) and an optional case reference.

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::store::{Event, Store};

/// Why the operator acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reason {
    /// The user asked (a data-subject request received outside the apps).
    Request,
    /// The account belongs to a minor (the service is for adults only).
    Minor,
    /// The user died.
    Deceased,
    /// A legal obligation (a court order, an authority's request).
    Legal,
    /// A mailing or a count the listed users consented to (marketing,
    /// analytics).
    Campaign,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Minor => "minor",
            Self::Deceased => "deceased",
            Self::Legal => "legal",
            Self::Campaign => "campaign",
        }
    }
}

/// A case reference for the audit entry: 1 to 64 of `A-Z a-z 0-9 - _ #`.
pub fn case_ref(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'#'))
    {
        Ok(s.to_owned())
    } else {
        Err("1 to 64 letters, digits, '-', '_' or '#' (no personal data)".into())
    }
}

/// The account named by `who`: an account id, or an email address.
pub async fn find_user(store: &Store, who: &str) -> anyhow::Result<Uuid> {
    let who = who.trim();
    let id = match Uuid::parse_str(who) {
        Ok(id) => store.user(id).await?.map(|u| u.id),
        Err(_) => store
            .credentials(&who.to_lowercase())
            .await?
            .map(|c| c.user_id),
    };
    id.context("no account with this id or email")
}

fn details(reason: Reason, case: Option<&str>, extra: serde_json::Value) -> serde_json::Value {
    let mut d = json!({ "reason": reason.as_str(), "by": "operator" });
    if let Some(c) = case {
        d["case"] = json!(c);
    }
    if let (Some(map), serde_json::Value::Object(more)) = (d.as_object_mut(), extra) {
        map.extend(more);
    }
    d
}

/// Writes the account's export document (the same as `GET /v1/me/export`)
/// to `out`, created new (an existing file is not overwritten). Returns
/// the bytes written.
pub async fn export_user(
    store: &Store,
    user: Uuid,
    out: &Path,
    reason: Reason,
    case: Option<&str>,
    now: DateTime<Utc>,
    notice: Option<praxis_protocol::notice::NoticeVersion>,
) -> anyhow::Result<u64> {
    use tokio::io::AsyncWriteExt as _;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .await
        .with_context(|| format!("creating {}", out.display()))?;
    let event = Event::user("operator_exported", user, details(reason, case, json!({})));
    let Some(mut rx) =
        crate::routes::export::start(store.clone(), user, now, event, notice).await?
    else {
        bail!("no such account");
    };
    let mut written = 0;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.context("the export failed")?;
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    file.sync_all().await?;
    Ok(written)
}

/// Restricts processing of the account, or lifts the restriction.
pub async fn restrict_user(
    store: &Store,
    user: Uuid,
    restricted: bool,
    reason: Reason,
    case: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    store.set_restricted(user, restricted, now).await?;
    store
        .audit(
            Event::user(
                "operator_restriction_changed",
                user,
                details(reason, case, json!({ "restricted": restricted })),
            ),
            now,
        )
        .await?;
    Ok(())
}

/// Erases the account: the same transaction as `DELETE /v1/me` (no
/// reauth); its devices wipe themselves at their next contact.
pub async fn erase_user(
    store: &Store,
    user: Uuid,
    reason: Reason,
    case: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let u = store.user(user).await?.context("no such account")?;
    store
        .erase_user(user, &store.throttle_key(&u.email), now)
        .await?;
    store
        .audit(
            Event::user("operator_erased", user, details(reason, case, json!({}))),
            now,
        )
        .await?;
    Ok(())
}

/// One account in a consent audience (`Debug` shows the id only).
#[derive(Clone, PartialEq, Eq)]
pub struct AudienceMember {
    /// The account.
    pub id: Uuid,
    /// Its address, only when verified (an unverified one is not mailed).
    pub verified_email: Option<String>,
}

impl std::fmt::Debug for AudienceMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudienceMember")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Everyone whose latest consent to `purpose` grants the version published
/// now and whose processing is not restricted: nobody else, ever (a
/// withdrawal, or consent to an older version, leaves a user out). Each
/// listed account gets an audit entry, so the user sees that they were on
/// the list.
pub async fn consent_audience(
    store: &Store,
    purpose: praxis_protocol::privacy::Purpose,
    reason: Reason,
    case: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<AudienceMember>> {
    let mut out = Vec::new();
    for (id, _) in store.list_users().await? {
        if !store.gate_open(id, purpose).await? {
            continue;
        }
        let Some(u) = store.user(id).await? else {
            continue; // erased meanwhile
        };
        store
            .audit(
                Event::user(
                    "operator_listed_for_purpose",
                    id,
                    details(reason, case, json!({ "purpose": purpose.as_str() })),
                ),
                now,
            )
            .await?;
        out.push(AudienceMember {
            id,
            verified_email: u.email_verified.then_some(u.email),
        });
    }
    Ok(out)
}

/// Applies the post-mortem directive of a user reported dead: the
/// default, erasure; or the hand-over, which mails their export to the
/// person they designated (with their message) and erases only once the
/// mail server accepted it (a failure changes nothing: run it again).
/// Audited with the reason `deceased`. Returns what was done.
pub async fn apply_post_mortem(
    store: &Store,
    user: Uuid,
    mail: Option<&crate::mail::MailConfig>,
    case: Option<&str>,
    now: DateTime<Utc>,
    notice: Option<praxis_protocol::notice::NoticeVersion>,
) -> anyhow::Result<praxis_protocol::notice::PostMortemAction> {
    use praxis_protocol::notice::PostMortemAction;
    let directive = store.post_mortem(user).await?;
    if let (PostMortemAction::HandOver, Some(to)) = (directive.action, &directive.recipient) {
        let config = mail.context(
            "the directive hands the data over by email: configure the mail server (--smtp-url)",
        )?;
        let mailer = crate::mail::Mailer::new(config)?;
        let name = store
            .user(user)
            .await?
            .context("no such account")?
            .full_name;
        let event = Event::user(
            "operator_exported",
            user,
            details(
                Reason::Deceased,
                case,
                json!({ "for": "post_mortem_hand_over" }),
            ),
        );
        let Some(mut rx) =
            crate::routes::export::start(store.clone(), user, now, event, notice).await?
        else {
            bail!("no such account");
        };
        let mut export = Vec::new();
        while let Some(chunk) = rx.recv().await {
            export.extend_from_slice(&chunk.context("the export failed")?);
        }
        mailer
            .send_hand_over(to, &name, directive.message.as_deref(), export)
            .await
            .map_err(anyhow::Error::msg)
            .context("the hand-over was not sent; nothing was erased")?;
    }
    store
        .audit(
            Event::user(
                "operator_post_mortem_applied",
                user,
                details(
                    Reason::Deceased,
                    case,
                    json!({ "action": directive.action }),
                ),
            ),
            now,
        )
        .await?;
    erase_user(store, user, Reason::Deceased, case, now).await?;
    Ok(directive.action)
}
