//! `praxis org`: organisations, members and join codes.

use clap::Subcommand;

use super::privacy::LocationPolicyCommand;
use super::values::role;

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organisation; you become its admin.
    Create {
        /// Its name.
        name: String,
    },
    /// Join an organisation with a code from an admin.
    Join {
        /// The join code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
    },
    /// Create a single-use join code (admins).
    Invite {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// List the members of an organisation.
    Members {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// List your organisations.
    List,
    /// Make a member an admin or a plain member (admins).
    Role {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The member's account id.
        user_id: uuid::Uuid,
        /// admin or member.
        #[arg(value_parser = role)]
        role: praxis_core::protocol::Role,
    },
    /// Remove a member (admins).
    Remove {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The member's account id.
        user_id: uuid::Uuid,
    },
    /// Leave an organisation (its last admin cannot while others remain).
    Leave {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// Rename an organisation (admins).
    Rename {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The new name.
        name: String,
    },
    /// The open join codes, by id (admins).
    Codes {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// Revoke an open join code by its id (admins).
    RevokeCode {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The code's id, from `praxis org codes` (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code_id: String,
    },
    /// The organisation's audit log (admins).
    Audit {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// The organisation's location policy (admins change it).
    #[command(subcommand)]
    LocationPolicy(LocationPolicyCommand),
}
