//! The mailer: account emails (an address verification code, a password
//! reset code), over SMTP with TLS (`smtps://` implicit, or `smtp://…?tls=required`
//! for STARTTLS; lettre on rustls with ring) or, with `--dev`, as `.eml`
//! files under the data directory so a walkthrough needs no mail server.
//!
//! Messages carry a code and nothing else about the user: no name, no
//! health data. They are sent off the request path (an answer never waits
//! for a mail server, and so never tells by its timing whether a message
//! went out); a failure is logged without the address.

use std::path::PathBuf;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes.
#[derive(Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// An SMTP server by URL (`smtps://user:pass@host:465`,
    /// `smtp://host:587?tls=required`; plain `smtp://` only to loopback).
    Smtp(String),
    /// Each message as a `.eml` file in this directory (`--dev`).
    Files(PathBuf),
}

// The URL may hold credentials.
impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Smtp(_) => "Smtp([redacted])",
            Self::Files(_) => "Files",
        })
    }
}

/// The mail settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// Where mail goes.
    pub transport: MailTransport,
    /// The sender, e.g. `Praxis <no-reply@praxis.example>`.
    pub from: String,
}

/// Why a mail configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    /// The SMTP URL does not parse, or plain SMTP to a remote host.
    #[error("the SMTP URL is not valid (smtps://, or smtp:// with ?tls=required off loopback)")]
    Url,
    /// The sender is not a mailbox.
    #[error("the sender address is not valid")]
    From,
}

/// One account email.
#[derive(Clone, PartialEq, Eq)]
pub enum Mail {
    /// A code that proves the address is the user's.
    Verify {
        /// The code.
        code: String,
    },
    /// A code that sets a new password.
    Reset {
        /// The code.
        code: String,
        /// Minutes it stays valid.
        minutes: i64,
    },
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Verify { .. } => "Verify",
            Self::Reset { .. } => "Reset",
        })
    }
}

impl Mail {
    fn kind(&self) -> &'static str {
        match self {
            Self::Verify { .. } => "verify",
            Self::Reset { .. } => "reset",
        }
    }

    fn subject_and_body(&self) -> (&'static str, String) {
        match self {
            Self::Verify { code } => (
                "Confirm your email address for Praxis",
                format!(
                    "Your Praxis confirmation code is:\n\n    {code}\n\nEnter it in the app to confirm this address. It expires in 24 hours.\nIf you did not create a Praxis account, ignore this message.\n"
                ),
            ),
            Self::Reset { code, minutes } => (
                "Your Praxis password reset code",
                format!(
                    "Your Praxis password reset code is:\n\n    {code}\n\nIt expires in {minutes} minutes and works once. Setting a new password signs you out on every device.\nIf you did not ask for it, ignore this message: your password stays as it is.\n"
                ),
            ),
        }
    }
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Sends account emails.
pub(crate) struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

/// Whether plain SMTP (no TLS) to this URL stays on this machine.
fn loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // `smtp:` is not a special scheme: its host stays text.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// Checks a mail configuration without building it (for the command line).
pub fn check(config: &MailConfig) -> Result<(), MailConfigError> {
    Mailer::new(config).map(drop)
}

impl Mailer {
    /// Builds the transport; no connection is made yet.
    pub(crate) fn new(config: &MailConfig) -> Result<Self, MailConfigError> {
        let from: Mailbox = config.from.parse().map_err(|_| MailConfigError::From)?;
        let transport = match &config.transport {
            MailTransport::Smtp(raw) => {
                let url = url::Url::parse(raw).map_err(|_| MailConfigError::Url)?;
                let tls = url.scheme() == "smtps"
                    || url
                        .query_pairs()
                        .any(|(k, v)| k == "tls" && v == "required");
                if !tls && !loopback(&url) {
                    return Err(MailConfigError::Url);
                }
                Transport::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
                        .map_err(|_| MailConfigError::Url)?
                        .build(),
                )
            }
            MailTransport::Files(dir) => {
                // Best effort: a failure shows when a message is written.
                let _ = std::fs::create_dir_all(dir);
                Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(dir))
            }
        };
        Ok(Self { transport, from })
    }

    /// Sends `mail` to `to`; errors are logged (without the address) and
    /// swallowed: the caller has already answered.
    pub(crate) async fn send(&self, to: &str, mail: &Mail) {
        let Ok(to) = to.parse::<Mailbox>() else {
            tracing::warn!(
                kind = mail.kind(),
                "mail not sent: the address does not parse"
            );
            return;
        };
        let (subject, body) = mail.subject_and_body();
        let message = match Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
        {
            Ok(m) => m,
            Err(_) => {
                tracing::warn!(kind = mail.kind(), "mail not sent: message not built");
                return;
            }
        };
        match self.deliver(message).await {
            Ok(()) => tracing::info!(kind = mail.kind(), "mail sent"),
            Err(why) => tracing::warn!(kind = mail.kind(), why, "mail not sent"),
        }
    }

    async fn deliver(&self, message: Message) -> Result<(), &'static str> {
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(drop).map_err(|e| {
                if e.is_transient() {
                    "transient"
                } else {
                    "permanent"
                }
            }),
            Transport::Files(t) => t.send(message).await.map(drop).map_err(|_| "file"),
        }
    }

    /// The hand-over of a post-mortem directive: the user's export as an
    /// attachment, to the person they designated, with their message.
    /// Unlike account emails the caller waits for it and learns whether
    /// it was accepted (nothing is erased before it was).
    pub(crate) async fn send_hand_over(
        &self,
        to: &praxis_protocol::notice::PostMortemRecipient,
        deceased_name: &str,
        message: Option<&str>,
        export: Vec<u8>,
    ) -> Result<(), String> {
        use lettre::message::{Attachment, MultiPart, SinglePart};
        let to = Mailbox::new(
            Some(to.name.clone()),
            to.email
                .parse()
                .map_err(|_| "the recipient's address does not parse")?,
        );
        let mut body = format!(
            "{deceased_name} asked Praxis to give you a copy of their data after their death. \
             It is attached (praxis-export.json: JSON, its schema is published with Praxis as \
             docs/export.schema.json). Praxis erases the account once this message is sent.\n"
        );
        if let Some(m) = message {
            body.push_str(&format!("\nTheir message to you:\n\n{m}\n"));
        }
        let json = ContentType::parse("application/json").map_err(|e| e.to_string())?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Data entrusted to you by a Praxis user")
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(body))
                    .singlepart(Attachment::new("praxis-export.json".into()).body(export, json)),
            )
            .map_err(|e| e.to_string())?;
        self.deliver(message)
            .await
            .map_err(|why| format!("the mail server refused it ({why})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(url: &str) -> Result<(), MailConfigError> {
        check(&MailConfig {
            transport: MailTransport::Smtp(url.to_owned()),
            from: "Praxis <no-reply@praxis.test>".to_owned(),
        })
    }

    // Building an SMTP transport (its connection pool) needs a runtime.
    #[tokio::test]
    async fn plain_smtp_only_to_loopback() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://localhost:25",
            "smtp://[::1]:2525",
            "smtps://user:secret@mail.example.org:465",
            "smtp://mail.example.org:587?tls=required",
        ] {
            assert!(smtp(ok).is_ok(), "{ok}");
        }
        for bad in [
            "smtp://mail.example.org:25",
            "smtp://10.0.0.5:25",
            "smtp://mail.example.org:587?tls=opportunistic",
            "http://mail.example.org",
            "not a url",
        ] {
            assert!(smtp(bad).is_err(), "{bad}");
        }
        assert!(
            check(&MailConfig {
                transport: MailTransport::Smtp("smtp://127.0.0.1:25".into()),
                from: "not an address".into(),
            })
            .is_err()
        );
    }

    #[test]
    fn debug_hides_the_url_and_the_code() {
        let t = MailTransport::Smtp("smtps://user:hunter2@mail.example.org".into());
        assert!(!format!("{t:?}").contains("hunter2"));
        let m = Mail::Reset {
            code: "ABCD-EFGH".into(),
            minutes: 15,
        };
        assert!(!format!("{m:?}").contains("ABCD"));
    }
}
