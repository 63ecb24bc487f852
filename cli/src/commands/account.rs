//! `praxis register | login | logout | whoami | profile | account`: the
//! account, its session and the rights exercised on it (restriction, the
//! audit log, erasure).

use praxis_core::protocol::{RegisterRequest, UpdateProfileRequest};
use praxis_core::{Error, PraxisClient, SessionState};

use crate::args::{AccountCommand, PostMortemCommand, ProfileCommand, RegisterArgs};
use crate::config::secret;
use crate::output::Out;

pub(crate) async fn register(
    client: &PraxisClient,
    out: &Out,
    a: RegisterArgs,
) -> Result<(), Error> {
    let password = secret("PRAXIS_PASSWORD", "New password: ")?;
    let id = client
        .account()
        .register(&RegisterRequest {
            email: a.email,
            password,
            full_name: a.name,
            phone: a.phone,
            country: a.country,
            language: a.language,
            profession: a.profession,
            date_of_birth: a.date_of_birth,
        })
        .await?;
    out.done(
        &format!("Account created ({id}). Sign in with `praxis login`."),
        serde_json::json!({ "user_id": id }),
    );
    Ok(())
}

pub(crate) async fn login(client: &PraxisClient, out: &Out, email: &str) -> Result<(), Error> {
    let password = secret("PRAXIS_PASSWORD", "Password: ")?;
    let id = client.account().login(email, &password).await?;
    out.done("Signed in.", serde_json::json!({ "user_id": id }));
    Ok(())
}

pub(crate) async fn logout(client: &PraxisClient, out: &Out) -> Result<(), Error> {
    client.account().logout().await?;
    out.done("Signed out.", serde_json::json!({ "signed_in": false }));
    Ok(())
}

pub(crate) async fn whoami(client: &PraxisClient, out: &Out) -> Result<(), Error> {
    let account = client.account();
    match account.state() {
        SessionState::SignedIn { user_id } => {
            let profile = account.cached_profile().await?;
            out.whoami(user_id, profile.as_ref());
            Ok(())
        }
        SessionState::SignedOut => Err(Error::NotSignedIn),
        SessionState::NeedsReLogin => Err(Error::SessionExpired),
        SessionState::Wiped => Err(Error::DeviceWiped),
    }
}

pub(crate) async fn profile(
    client: &PraxisClient,
    out: &Out,
    cmd: ProfileCommand,
) -> Result<(), Error> {
    let account = client.account();
    match cmd {
        ProfileCommand::Show { offline } => {
            let profile = if offline {
                account.cached_profile().await?.ok_or(Error::NotSignedIn)?
            } else {
                account.profile().await?
            };
            out.profile(&profile);
        }
        ProfileCommand::Edit {
            email,
            name,
            phone,
            country,
            language,
            profession,
            date_of_birth,
        } => {
            let update = UpdateProfileRequest {
                email,
                full_name: name,
                phone,
                country,
                language,
                profession,
                date_of_birth,
            };
            if update == UpdateProfileRequest::default() {
                return Err(Error::InvalidInput {
                    field: "profile edit",
                    reason: "give at least one field to change, e.g. --phone",
                });
            }
            if update.email.is_some() {
                // The sign-in email changes only with the password
                // confirmed (the server refuses it otherwise).
                let password = secret("PRAXIS_PASSWORD", "Password: ")?;
                account.reauthenticate(&password).await?;
            }
            let profile = account.update_profile(&update).await?;
            out.profile(&profile);
        }
    }
    Ok(())
}

pub(crate) async fn run(
    client: &PraxisClient,
    out: &Out,
    cmd: AccountCommand,
) -> Result<(), Error> {
    let account = client.account();
    match cmd {
        AccountCommand::Restrict { restricted } => {
            account.set_restricted(restricted).await?;
            out.done(
                if restricted {
                    "Processing restricted: your data is kept and nothing changes it. Lift it with `praxis account restrict off`."
                } else {
                    "Restriction lifted; queued changes sync at the next `praxis sync`."
                },
                serde_json::json!({ "restricted": restricted }),
            );
        }
        AccountCommand::Audit => out.audit(&account.audit().await?),
        AccountCommand::PostMortem(cmd) => {
            use praxis_core::protocol::notice::{
                PostMortemAction, PostMortemRecipient, PostMortemRequest,
            };
            let set = |action, recipient, message| PostMortemRequest {
                action,
                recipient,
                message,
            };
            let directive = match cmd {
                PostMortemCommand::Show => account.post_mortem().await?,
                PostMortemCommand::Erase => {
                    account
                        .set_post_mortem(&set(PostMortemAction::Erase, None, None))
                        .await?
                }
                PostMortemCommand::HandOver {
                    name,
                    email,
                    message,
                } => {
                    let to = PostMortemRecipient { name, email };
                    account
                        .set_post_mortem(&set(PostMortemAction::HandOver, Some(to), message))
                        .await?
                }
                PostMortemCommand::Remove => {
                    account.remove_post_mortem().await?;
                    account.post_mortem().await?
                }
            };
            out.post_mortem(&directive);
        }
        AccountCommand::Object {
            basis: None,
            withdraw: _,
        } => out.objections(&account.objections().await?),
        AccountCommand::Object {
            basis: Some(basis),
            withdraw,
        } => out.objections(&[account.set_objection(&basis, !withdraw).await?]),
        AccountCommand::Password => {
            let current = secret("PRAXIS_PASSWORD", "Current password: ")?;
            let new = secret("PRAXIS_NEW_PASSWORD", "New password: ")?;
            account.change_password(Some(&current), &new).await?;
            out.done(
                "Password changed. Your other devices are signed out.",
                serde_json::json!({ "changed": true }),
            );
        }
        AccountCommand::Reset { email, code: None } => {
            account.request_password_reset(&email).await?;
            out.done(
                "If a verified account has this address, a code valid 15 minutes is on its way. Then run `praxis account reset --email <address> --code <code>`.",
                serde_json::json!({ "requested": true }),
            );
        }
        AccountCommand::Reset {
            email,
            code: Some(code),
        } => {
            let new = secret("PRAXIS_NEW_PASSWORD", "New password: ")?;
            account.reset_password(&email, &code, &new).await?;
            out.done(
                "Password set. Every device was signed out: sign in with `praxis login`.",
                serde_json::json!({ "reset": true }),
            );
        }
        AccountCommand::VerifyEmail { code: Some(code) } => {
            account.verify_email(&code).await?;
            out.done(
                "Email address verified.",
                serde_json::json!({ "verified": true }),
            );
        }
        AccountCommand::VerifyEmail { code: None } => {
            let sent = account.resend_verification().await?;
            out.done(
                if sent {
                    "A new code is on its way to your address."
                } else {
                    "Your email address is already verified."
                },
                serde_json::json!({ "sent": sent }),
            );
        }
        AccountCommand::Sessions => out.sessions(&client.devices().sessions().await?),
        AccountCommand::SignOut { id, others, wipe } => {
            if wipe {
                let password = secret("PRAXIS_PASSWORD", "Password: ")?;
                account.reauthenticate(&password).await?;
            }
            let devices = client.devices();
            match id {
                Some(id) => devices.end_session(id, wipe).await?,
                None if others => devices.end_other_sessions(wipe).await?,
                None => {
                    return Err(Error::InvalidInput {
                        field: "account sign-out",
                        reason: "give a session id or --others",
                    });
                }
            }
            let what = if others {
                "Every other device"
            } else {
                "The device"
            };
            out.done(
                &if wipe {
                    format!("{what} is signed out and deletes your data at its next contact.")
                } else {
                    format!("{what} is signed out.")
                },
                serde_json::json!({ "ended": id.map(|i| i.to_string()).unwrap_or_else(|| "others".into()), "wipe": wipe }),
            );
        }
        AccountCommand::Delete { yes } => {
            if !yes {
                return Err(Error::InvalidInput {
                    field: "account delete",
                    reason: "this erases everything; run again with --yes to confirm",
                });
            }
            let password = secret("PRAXIS_PASSWORD", "Password: ")?;
            account.delete_account(&password).await?;
            out.done(
                "Account erased. This device's data was wiped; your other devices wipe theirs at their next contact.",
                serde_json::json!({ "erased": true }),
            );
        }
    }
    Ok(())
}
