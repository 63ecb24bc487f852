//! The appointments capability for the apps: the visits on this device,
//! offline-first (see `praxis_core::appointments`).

use crate::client::{PraxisClient, uuid};
use crate::error::PraxisError;
use crate::types::{Appointment, AppointmentPatch, NewAppointment};

crate::capability!(
    /// The visits on this device (offline-first: stored and queued, synced later).
    Appointments,
    appointments
);

#[uniffi::export(async_runtime = "tokio")]
impl Appointments {
    /// Adds a visit (offline-first: stored and queued, synced later).
    pub async fn create_appointment(
        &self,
        appointment: NewAppointment,
    ) -> Result<String, PraxisError> {
        Ok(self
            .core()
            .appointments()
            .create(appointment.into())
            .await?
            .to_string())
    }

    /// Changes fields of a visit.
    pub async fn update_appointment(
        &self,
        id: String,
        patch: AppointmentPatch,
    ) -> Result<(), PraxisError> {
        Ok(self
            .core()
            .appointments()
            .update(uuid("id", &id)?, patch.into())
            .await?)
    }

    /// Deletes a visit.
    pub async fn delete_appointment(&self, id: String) -> Result<(), PraxisError> {
        Ok(self.core().appointments().delete(uuid("id", &id)?).await?)
    }

    /// The visits on this device, by start time.
    pub async fn list(&self) -> Result<Vec<Appointment>, PraxisError> {
        Ok(self
            .core()
            .appointments()
            .list()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
