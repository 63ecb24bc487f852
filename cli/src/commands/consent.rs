//! `praxis consent`: consent per purpose, and its history; `praxis
//! privacy notice`: the notice that consent is given under.

use praxis_core::{Error, PraxisClient};

use crate::args::{ConsentCommand, PrivacyCommand};
use crate::output::Out;

pub(crate) async fn run(
    client: &PraxisClient,
    out: &Out,
    cmd: ConsentCommand,
) -> Result<(), Error> {
    if client.account().user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let consents = client.consents();
    match cmd {
        ConsentCommand::Show => out.consents(&consents.status().await?),
        ConsentCommand::Grant { purpose } => {
            consents.grant(purpose).await?;
            out.done(
                &format!(
                    "Consent to {} recorded; it syncs with `praxis sync`.",
                    purpose.as_str()
                ),
                serde_json::json!({ "purpose": purpose, "granted": true }),
            );
        }
        ConsentCommand::Withdraw { purpose } => {
            consents.withdraw(purpose).await?;
            out.done(
                &format!(
                    "Consent to {} withdrawn; processing stopped on this device.",
                    purpose.as_str()
                ),
                serde_json::json!({ "purpose": purpose, "granted": false }),
            );
        }
        ConsentCommand::History => out.consent_history(&consents.history().await?),
    }
    Ok(())
}

pub(crate) async fn privacy(
    client: &PraxisClient,
    out: &Out,
    cmd: PrivacyCommand,
) -> Result<(), Error> {
    match cmd {
        PrivacyCommand::Notice => {
            let notices = client.notices();
            let status = notices.fetch().await?;
            out.notice(&status);
            // Printed: the user has now seen it.
            notices.acknowledge(status.notice.version).await?;
        }
    }
    Ok(())
}
