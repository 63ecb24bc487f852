//! `praxis account` and `praxis register`: sign-in, sessions, profile,
//! export, erasure and the post-mortem directive.

use clap::{Args, Subcommand};

use super::values::on_off;

#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// Restrict processing of your account (on) or lift it (off): your data
    /// is kept but nothing changes it; consent can still be withdrawn.
    Restrict {
        /// on or off.
        #[arg(value_parser = on_off, action = clap::ArgAction::Set)]
        restricted: bool,
    },
    /// The security events recorded about your account.
    Audit,
    /// What happens to your data after your death: erased (the default),
    /// or handed to a person you choose, then erased.
    #[command(subcommand)]
    PostMortem(PostMortemCommand),
    /// Object to processing that rests on the service's legitimate
    /// interest (GDPR Art. 21), or withdraw the objection (--withdraw);
    /// without a basis, list them with where you stand.
    Object {
        /// e.g. connection_log (see the list).
        basis: Option<String>,
        /// Withdraw the objection instead.
        #[arg(long, requires = "basis")]
        withdraw: bool,
    },
    /// Change your password (asks for the current and the new one, or
    /// PRAXIS_PASSWORD and PRAXIS_NEW_PASSWORD). Your other devices are
    /// signed out.
    Password,
    /// Forgot your password: without --code, mails a reset code to the
    /// address; with --code, sets a new password (asks for it, or
    /// PRAXIS_NEW_PASSWORD) and signs out every device. No sign-in needed.
    Reset {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// The code from the mail.
        #[arg(long)]
        code: Option<String>,
    },
    /// Prove your email address: with a code from the mail, confirm it;
    /// without, mail a new code.
    VerifyEmail {
        /// The code from the mail.
        code: Option<String>,
    },
    /// Your signed-in devices (the one in use is marked `*`).
    Sessions,
    /// Sign a device out: an id from `praxis account sessions`, or every
    /// other device with --others. With --wipe the device also deletes
    /// your data on it when it next goes online (asks for your password,
    /// or PRAXIS_PASSWORD): for a lost or stolen phone.
    SignOut {
        /// The session to end.
        #[arg(required_unless_present = "others", conflicts_with = "others")]
        id: Option<uuid::Uuid>,
        /// Every device but this one.
        #[arg(long)]
        others: bool,
        /// Also make the device delete your data on it.
        #[arg(long)]
        wipe: bool,
    },
    /// Erase your account and everything about you (asks for your password,
    /// or PRAXIS_PASSWORD). Your other devices wipe themselves at their next
    /// contact; colleagues holding your card lose it.
    Delete {
        /// Confirm without the interactive question.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PostMortemCommand {
    /// Your directive (or the default, erasure).
    Show,
    /// Erase everything after your death.
    Erase,
    /// Hand a copy of your data to a person after your death, then erase.
    HandOver {
        /// Their name.
        #[arg(long)]
        name: String,
        /// Their email address.
        #[arg(long)]
        email: String,
        /// A message for them.
        #[arg(long)]
        message: Option<String>,
    },
    /// Remove your directive: erasure applies again.
    Remove,
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// Email address.
    #[arg(long)]
    pub(crate) email: String,
    /// Full name.
    #[arg(long)]
    pub(crate) name: String,
    /// Phone number in E.164 form, e.g. +33612345678.
    #[arg(long)]
    pub(crate) phone: String,
    /// ISO 3166-1 alpha-2 country code, e.g. FR.
    #[arg(long)]
    pub(crate) country: String,
    /// BCP 47 language tag, e.g. fr-FR.
    #[arg(long)]
    pub(crate) language: String,
    /// Profession, e.g. nurse.
    #[arg(long)]
    pub(crate) profession: String,
    /// Date of birth, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) date_of_birth: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// Show your profile.
    Show {
        /// Show the copy stored on this device, without the network.
        #[arg(long)]
        offline: bool,
    },
    /// Correct profile fields (only those given change).
    Edit {
        /// New email address (your sign-in: the password is asked for, or
        /// read from PRAXIS_PASSWORD, and your other devices are signed out).
        #[arg(long)]
        email: Option<String>,
        /// New full name.
        #[arg(long)]
        name: Option<String>,
        /// New phone number (E.164).
        #[arg(long)]
        phone: Option<String>,
        /// New country code.
        #[arg(long)]
        country: Option<String>,
        /// New language tag.
        #[arg(long)]
        language: Option<String>,
        /// New profession.
        #[arg(long)]
        profession: Option<String>,
        /// Corrected date of birth.
        #[arg(long)]
        date_of_birth: Option<String>,
    },
}
