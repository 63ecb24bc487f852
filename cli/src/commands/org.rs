//! `praxis org`: organisations, join codes, members, and the location
//! policy admins set.

use praxis_core::protocol::privacy::UpdateLocationPolicyRequest;
use praxis_core::{Error, PraxisClient};

use crate::args::{LocationPolicyCommand, OrgCommand};
use crate::output::Out;

pub(crate) async fn run(client: &PraxisClient, out: &Out, cmd: OrgCommand) -> Result<(), Error> {
    let account = client.account();
    match cmd {
        OrgCommand::Create { name } => {
            let id = account.create_org(&name).await?;
            out.done(
                &format!("Organisation created: {id}"),
                serde_json::json!({ "org_id": id }),
            );
        }
        OrgCommand::Join { code } => {
            let id = account.join_org(&code).await?;
            out.done(
                &format!("Joined organisation {id}"),
                serde_json::json!({ "org_id": id }),
            );
        }
        OrgCommand::Invite { org_id } => out.join_code(&account.create_join_code(org_id).await?),
        OrgCommand::Members { org_id } => out.members(&account.members(org_id).await?),
        OrgCommand::List => out.orgs(&account.orgs().await?),
        OrgCommand::LocationPolicy(cmd) => location_policy(client, out, cmd).await?,
    }
    Ok(())
}

async fn location_policy(
    client: &PraxisClient,
    out: &Out,
    cmd: LocationPolicyCommand,
) -> Result<(), Error> {
    let account = client.account();
    match cmd {
        LocationPolicyCommand::Show { org_id } => {
            out.location_policy(&account.location_policy(org_id).await?);
        }
        LocationPolicyCommand::Set {
            org_id,
            visits,
            sharing,
            precision,
            retention_days,
        } => {
            let change = UpdateLocationPolicyRequest {
                location_visits: visits,
                location_sharing: sharing,
                max_precision: precision,
                retention_days,
            };
            if change == UpdateLocationPolicyRequest::default() {
                return Err(Error::InvalidInput {
                    field: "location-policy set",
                    reason: "give at least one setting, e.g. --visits on",
                });
            }
            out.location_policy(&account.update_location_policy(org_id, &change).await?);
        }
        LocationPolicyCommand::Member {
            org_id,
            user_id,
            enabled,
        } => {
            account
                .set_member_location(org_id, user_id, enabled)
                .await?;
            out.done(
                &format!(
                    "Location {} for member {user_id}; their devices apply it at their next sync.",
                    if enabled {
                        "allowed again"
                    } else {
                        "switched off"
                    }
                ),
                serde_json::json!({ "user_id": user_id, "enabled": enabled }),
            );
        }
        LocationPolicyCommand::Changes { org_id } => {
            out.policy_changes(&account.location_policy_changes(org_id).await?);
        }
    }
    Ok(())
}
