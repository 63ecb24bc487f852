//! `praxis contacts`: the card, invitations and the cards shared with you.

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub(crate) struct CardArgs {
    /// Name shown to colleagues.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Profession.
    #[arg(long)]
    pub(crate) profession: Option<String>,
    /// Specialty.
    #[arg(long)]
    pub(crate) specialty: Option<String>,
    /// Work phone, E.164.
    #[arg(long)]
    pub(crate) work_phone: Option<String>,
    /// Work email.
    #[arg(long)]
    pub(crate) work_email: Option<String>,
    /// Organisation or clinic name.
    #[arg(long)]
    pub(crate) organisation: Option<String>,
    /// Clinic address.
    #[arg(long)]
    pub(crate) clinic_address: Option<String>,
    /// Languages, comma-separated BCP 47 tags (e.g. fr,en).
    #[arg(long, value_delimiter = ',')]
    pub(crate) languages: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContactsCommand {
    /// Your card.
    Card,
    /// Change your card (only the fields given); holders see the change at their next sync.
    EditCard(CardArgs),
    /// Invite someone: prints a single-use code (for a QR code or a link).
    Invite {
        /// Fields they will see, comma-separated (display_name, work_phone, ...).
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// Let them forward your card to their connections.
        #[arg(long)]
        allow_forward: bool,
        /// Hours until it expires (default 48, at most 168).
        #[arg(long)]
        hours: Option<u32>,
    },
    /// Who invites you (checks the code on this device first).
    Preview {
        /// The invitation code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
    },
    /// Accept an invitation; you share the fields you choose back.
    Accept {
        /// The invitation code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
        /// Your fields they will see, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// Let them forward your card.
        #[arg(long)]
        allow_forward: bool,
    },
    /// Decline an invitation.
    Decline {
        /// The invitation code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
    },
    /// Cards shared with you (works offline; `praxis sync` refreshes).
    List,
    /// Who holds your card.
    Holders,
    /// End a connection, both ways.
    Revoke {
        /// Their account id.
        user_id: uuid::Uuid,
    },
    /// Take your card back from one holder.
    RevokeHolder {
        /// The holder's account id.
        holder_id: uuid::Uuid,
    },
    /// Forward a card you hold to one of your connections (if its owner allowed it).
    Forward {
        /// The card's owner.
        owner_id: uuid::Uuid,
        /// Your connection to pass it to.
        #[arg(long)]
        to: uuid::Uuid,
    },
    /// Block someone: your connection ends and their invitations are refused.
    Block {
        /// Their account id.
        user_id: uuid::Uuid,
    },
    /// Lift a block.
    Unblock {
        /// Their account id.
        user_id: uuid::Uuid,
    },
}
