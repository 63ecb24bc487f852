//! `praxis location`: permission, visit check-in/out, live sharing.

use praxis_core::{Error, Fix, FixSource, PraxisClient};

use crate::args::{FixArgs, LocationCommand};
use crate::output::Out;

fn fix(a: &FixArgs) -> Fix {
    Fix {
        lat: a.lat,
        lon: a.lon,
        accuracy_m: a.accuracy,
        at: chrono::Utc::now(),
        source: FixSource::Gps,
    }
}

pub(crate) async fn run(
    client: &PraxisClient,
    out: &Out,
    cmd: LocationCommand,
) -> Result<(), Error> {
    if client.account().user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let loc = client.location();
    match cmd {
        LocationCommand::Status => out.permissions(&loc.permissions().await?),
        LocationCommand::Precision { precision } => {
            loc.set_precision(precision).await?;
            out.done(
                &format!(
                    "Precision preference: {} (never finer than your organisation allows).",
                    precision.as_str()
                ),
                serde_json::json!({ "precision": precision }),
            );
        }
        LocationCommand::CheckIn {
            appointment_id,
            fix: f,
        } => out.visit_event(&loc.check_in(appointment_id, fix(&f)).await?),
        LocationCommand::CheckOut {
            appointment_id,
            fix: f,
        } => out.visit_event(&loc.check_out(appointment_id, fix(&f)).await?),
        LocationCommand::Share { to, minutes } => {
            let share = loc.start_share(to, minutes).await?;
            out.done(
                &format!(
                    "Sharing your location until {} (share {}). Send positions with `praxis location send-fix`.",
                    share.expires_at, share.share_id
                ),
                serde_json::to_value(&share).unwrap_or_default(),
            );
        }
        LocationCommand::SendFix(f) => {
            let n = loc.share_fix(fix(&f)).await?;
            out.done(
                &format!("Position sent to {n} live share(s)."),
                serde_json::json!({ "shares": n }),
            );
        }
        LocationCommand::StopShare { share_id } => {
            loc.stop_share(share_id).await?;
            out.done(
                "Live share stopped; its position was deleted.",
                serde_json::json!({ "share_id": share_id }),
            );
        }
        LocationCommand::SharedWithMe => out.shared_with_me(&loc.shared_with_me().await?),
        LocationCommand::Erase { purpose } => {
            let e = loc.erase_data(purpose).await?;
            let held = match e.held_until {
                Some(until) if e.visit_events_held > 0 => format!(
                    "\n{} visit record(s) your organisation must keep are held, restricted, until {}.",
                    e.visit_events_held,
                    until.date_naive()
                ),
                _ => String::new(),
            };
            out.done(
                &format!(
                    "Location data erased: {} raw fix(es), {} visit record(s), {} live share(s).{held}",
                    e.raw_fixes_erased, e.visit_events_deleted, e.shares_ended
                ),
                serde_json::to_value(&e).unwrap_or_default(),
            );
        }
    }
    Ok(())
}
