//! Usage analytics for the apps (see `praxis_core::analytics`): recorded
//! only while the user consents, never with personal data.

use std::collections::HashMap;

use praxis_core::AnalyticsValue as CoreValue;

use crate::client::PraxisClient;
use crate::error::PraxisError;

/// A property's value: a flag, a small count or a token (`a-z`, `0-9`,
/// `_`), nothing free-form.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AnalyticsValue {
    /// Yes or no.
    Flag {
        /// The value.
        value: bool,
    },
    /// 0 to 10,000.
    Count {
        /// The value.
        value: u32,
    },
    /// `a-z`, then `a-z`, `0-9` or `_`, at most 32.
    Token {
        /// The value.
        value: String,
    },
}

impl From<AnalyticsValue> for CoreValue {
    fn from(v: AnalyticsValue) -> Self {
        match v {
            AnalyticsValue::Flag { value } => Self::Flag(value),
            AnalyticsValue::Count { value } => Self::Count(value),
            AnalyticsValue::Token { value } => Self::Token(value),
        }
    }
}

impl From<CoreValue> for AnalyticsValue {
    fn from(v: CoreValue) -> Self {
        match v {
            CoreValue::Flag(value) => Self::Flag { value },
            CoreValue::Count(value) => Self::Count { value },
            CoreValue::Token(value) => Self::Token { value },
        }
    }
}

/// How often one event, with one set of properties, happened on one day.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AnalyticsCount {
    /// The day (UTC, `YYYY-MM-DD`).
    pub day: String,
    /// The event.
    pub event: String,
    /// Its properties.
    pub props: HashMap<String, AnalyticsValue>,
    /// How many times.
    pub count: u64,
}

crate::capability!(
    /// Consented, aggregate usage counts.
    Analytics,
    analytics
);

#[uniffi::export(async_runtime = "tokio")]
impl Analytics {
    /// Counts one usage event; `false` when dropped because the user does
    /// not consent to analytics (or processing is restricted). An event
    /// that is malformed or carries a part of the user's name, email or
    /// phone is refused (`InvalidInput`).
    pub async fn record_analytics_event(
        &self,
        event: String,
        props: HashMap<String, AnalyticsValue>,
    ) -> Result<bool, PraxisError> {
        let props = props.into_iter().map(|(k, v)| (k, v.into())).collect();
        Ok(self.core().analytics().record(&event, props).await?)
    }

    /// Takes the counts recorded so far (deleted from the device) for the
    /// app to ship to its analytics endpoint; empty without consent.
    pub async fn drain_analytics(&self) -> Result<Vec<AnalyticsCount>, PraxisError> {
        let rows = self.core().analytics().drain().await?;
        Ok(rows
            .into_iter()
            .map(|c| AnalyticsCount {
                day: c.day.to_string(),
                event: c.event,
                props: c.props.into_iter().map(|(k, v)| (k, v.into())).collect(),
                count: c.count,
            })
            .collect())
    }
}
