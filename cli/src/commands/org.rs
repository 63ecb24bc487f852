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
        OrgCommand::Role {
            org_id,
            user_id,
            role,
        } => {
            account.set_member_role(org_id, user_id, role).await?;
            out.done(
                &format!("{user_id} is now {}.", role.as_str()),
                serde_json::json!({ "user_id": user_id, "role": role.as_str() }),
            );
        }
        OrgCommand::Remove { org_id, user_id } => {
            account.remove_member(org_id, user_id).await?;
            out.done(
                &format!("{user_id} was removed."),
                serde_json::json!({ "removed": user_id }),
            );
        }
        OrgCommand::Leave { org_id } => {
            account.leave_org(org_id).await?;
            out.done(
                "You left the organisation.",
                serde_json::json!({ "left": org_id }),
            );
        }
        OrgCommand::Rename { org_id, name } => {
            out.orgs(&[account.rename_org(org_id, &name).await?])
        }
        OrgCommand::Codes { org_id } => out.join_codes(&account.join_codes(org_id).await?),
        OrgCommand::RevokeCode { org_id, code_id } => {
            account.revoke_join_code(org_id, &code_id).await?;
            out.done(
                "The join code was revoked.",
                serde_json::json!({ "revoked": code_id }),
            );
        }
        OrgCommand::Audit { org_id } => out.audit(&account.org_audit(org_id).await?),
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
            visit_records_days,
        } => {
            let change = UpdateLocationPolicyRequest {
                location_visits: visits,
                location_sharing: sharing,
                max_precision: precision,
                retention_days,
                visit_records_days,
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
