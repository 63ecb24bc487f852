//! `praxis appointments`: the visit schedule on this device.

use praxis_core::{Error, PraxisClient};

use crate::args::AppointmentsCommand;
use crate::output::Out;

pub(crate) async fn run(
    client: &PraxisClient,
    out: &Out,
    cmd: AppointmentsCommand,
) -> Result<(), Error> {
    use praxis_core::{AppointmentPatch, AppointmentStatus, NewAppointment};
    let a = client.appointments();
    match cmd {
        AppointmentsCommand::List => out.appointments(&a.list().await?),
        AppointmentsCommand::Add {
            title,
            start,
            minutes,
            patient,
            address,
            lat,
            lon,
            radius,
        } => {
            let point = lat
                .zip(lon)
                .map(|(lat, lon)| praxis_core::GeoPoint { lat, lon });
            let geofence = point.zip(radius).map(|(p, radius_m)| {
                praxis_core::appointments::Geofence::Circle {
                    lat: p.lat,
                    lon: p.lon,
                    radius_m,
                }
            });
            let id = a
                .create(NewAppointment {
                    title,
                    patient_label: patient,
                    start: start.with_timezone(&chrono::Utc),
                    duration_min: minutes,
                    address,
                    point,
                    geofence,
                })
                .await?;
            out.done(
                &format!("Visit added ({id}); it syncs with `praxis sync`."),
                serde_json::json!({ "id": id }),
            );
        }
        AppointmentsCommand::Edit {
            id,
            title,
            start,
            minutes,
            status,
            address,
        } => {
            let status = status
                .map(|s| AppointmentStatus::parse(&s).expect("clap accepts only the wire names"));
            a.update(
                id,
                AppointmentPatch {
                    title,
                    start: start.map(|s| s.with_timezone(&chrono::Utc)),
                    duration_min: minutes,
                    status,
                    address: address.map(Some),
                    ..Default::default()
                },
            )
            .await?;
            out.done("Visit updated.", serde_json::json!({ "id": id }));
        }
        AppointmentsCommand::Delete { id } => {
            a.delete(id).await?;
            out.done("Visit deleted.", serde_json::json!({ "id": id }));
        }
    }
    Ok(())
}
