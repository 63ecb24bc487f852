//! `praxis contacts`: contact cards shared between practitioners.

use praxis_core::{Error, PraxisClient};

use crate::args::ContactsCommand;
use crate::output::Out;

pub(crate) async fn run(
    client: &PraxisClient,
    out: &Out,
    cmd: ContactsCommand,
) -> Result<(), Error> {
    if client.account().user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let c = client.contacts();
    match cmd {
        ContactsCommand::Card => out.card(&c.my_card().await?),
        ContactsCommand::EditCard(a) => {
            let mut card = c.my_card().await?;
            let before = card.clone();
            let set = |slot: &mut Option<String>, v: Option<String>| {
                if v.is_some() {
                    *slot = v;
                }
            };
            if let Some(n) = a.name {
                card.display_name = n;
            }
            set(&mut card.profession, a.profession);
            set(&mut card.specialty, a.specialty);
            set(&mut card.work_phone, a.work_phone);
            set(&mut card.work_email, a.work_email);
            set(&mut card.organisation, a.organisation);
            set(&mut card.clinic_address, a.clinic_address);
            if let Some(l) = a.languages {
                card.languages = l;
            }
            if card == before {
                return Err(Error::InvalidInput {
                    field: "edit-card",
                    reason: "give at least one field to change, e.g. --work-phone",
                });
            }
            out.card(&c.update_card(&card).await?);
        }
        ContactsCommand::Invite {
            fields,
            allow_forward,
            hours,
        } => {
            let i = c.invite(fields, allow_forward, hours).await?;
            out.print(
                &format!(
                    "Invitation code (single use, valid until {}):\n{}\nThe recipient runs `praxis contacts accept <code> --fields ...`.",
                    i.expires_at, i.code
                ),
                serde_json::to_value(&i).unwrap_or_default(),
            );
        }
        ContactsCommand::Preview { code } => {
            let p = c.preview(&code).await?;
            out.print(
                &format!(
                    "{} ({}) invites you to connect and offers: {}. Valid until {}.",
                    p.display_name.as_deref().unwrap_or("Someone"),
                    p.organisation
                        .as_deref()
                        .or(p.profession.as_deref())
                        .unwrap_or("practitioner"),
                    p.fields.join(", "),
                    p.expires_at
                ),
                serde_json::to_value(&p).unwrap_or_default(),
            );
        }
        ContactsCommand::Accept {
            code,
            fields,
            allow_forward,
        } => {
            let owner = c.accept(&code, fields, allow_forward).await?;
            out.done(
                &format!("Connected with {owner}; their card is in `praxis contacts list`."),
                serde_json::json!({ "owner_id": owner }),
            );
        }
        ContactsCommand::Decline { code } => {
            c.decline(&code).await?;
            out.done(
                "Invitation declined.",
                serde_json::json!({ "declined": true }),
            );
        }
        ContactsCommand::List => out.contacts(&c.list().await?),
        ContactsCommand::Holders => out.holders(&c.holders().await?),
        ContactsCommand::Revoke { user_id } => {
            c.revoke(user_id).await?;
            out.done(
                "Connection ended both ways; the cards leave the other devices at their next sync.",
                serde_json::json!({ "user_id": user_id }),
            );
        }
        ContactsCommand::RevokeHolder { holder_id } => {
            c.revoke_holder(holder_id).await?;
            out.done(
                "Your card was taken back; it leaves their devices at their next sync.",
                serde_json::json!({ "holder_id": holder_id }),
            );
        }
        ContactsCommand::Forward { owner_id, to } => {
            c.forward(owner_id, to).await?;
            out.done(
                "Card forwarded.",
                serde_json::json!({ "owner_id": owner_id, "to": to }),
            );
        }
        ContactsCommand::Block { user_id } => {
            c.block(user_id).await?;
            out.done("Blocked.", serde_json::json!({ "user_id": user_id }));
        }
        ContactsCommand::Unblock { user_id } => {
            c.unblock(user_id).await?;
            out.done("Block lifted.", serde_json::json!({ "user_id": user_id }));
        }
    }
    Ok(())
}
