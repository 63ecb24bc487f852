//! Printing consent, location policy, the privacy notice and the user's
//! rights (objections, post-mortem directive, audit trail), visits and
//! shared locations.

use praxis_core::protocol::audit::AuditEntry;
use praxis_core::protocol::privacy::{
    Closed, LocationPolicy, PolicyChange, SharedLocation, consents,
};
use serde_json::{Value, json};

use super::Out;

impl Out {
    pub(crate) fn location_policy(&self, p: &LocationPolicy) {
        let on = |b: bool| if b { "on" } else { "off" };
        self.print(
            &format!(
                "Visit verification: {}\nLive sharing:       {}\nFinest precision:   {}\nRaw fixes kept:     {} days\nVisit records kept: {} days\nLast changed:       {}{}",
                on(p.location_visits),
                on(p.location_sharing),
                p.max_precision.as_str(),
                p.retention_days,
                p.visit_records_days,
                p.updated_at,
                p.updated_by.map(|u| format!(" by {u}")).unwrap_or_default()
            ),
            serde_json::to_value(p).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn policy_changes(&self, changes: &[PolicyChange]) {
        let human = changes
            .iter()
            .map(|c| {
                format!(
                    "{}  by {}{}  {}",
                    c.at,
                    c.actor_id,
                    c.member_id.map(|m| format!(" for {m}")).unwrap_or_default(),
                    c.change
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No changes yet."
            } else {
                &human
            },
            serde_json::to_value(changes).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn notice(&self, status: &praxis_core::NoticeStatus) {
        let n = &status.notice;
        let contact = |c: &praxis_core::protocol::notice::Contact| match &c.name {
            Some(name) => format!("{name} <{}>", c.email),
            None => c.email.clone(),
        };
        let mut human = Vec::new();
        if n.development {
            human.push("DEVELOPMENT SERVER: no privacy notice is configured.".to_owned());
        }
        if status.changed {
            human.push("Our privacy notice has changed since you last saw it.".to_owned());
        }
        human.extend([
            format!(
                "Privacy notice v{} of {} ({})",
                n.version, n.published, n.url
            ),
            format!(
                "Controller:            {}, {} (reg. {})",
                n.controller.name, n.controller.address, n.controller.registration_number
            ),
            format!("Privacy contact:       {}", contact(&n.privacy_contact)),
            format!("Data protection officer: {}", contact(&n.dpo)),
            format!(
                "Complaints:            {} ({})",
                n.supervisory_authority.name, n.supervisory_authority.url
            ),
        ]);
        let mut machine = serde_json::to_value(n).unwrap_or(Value::Null);
        machine["changed"] = Value::Bool(status.changed);
        self.print(&human.join("\n"), machine);
    }

    pub(crate) fn post_mortem(&self, d: &praxis_core::protocol::notice::PostMortemDirective) {
        use praxis_core::protocol::notice::PostMortemAction;
        let human = match (&d.action, &d.recipient, d.updated_at) {
            (PostMortemAction::Erase, _, None) => {
                "After your death your data is erased (the default: you set no directive)."
                    .to_owned()
            }
            (PostMortemAction::Erase, _, Some(_)) => {
                "After your death your data is erased (your directive).".to_owned()
            }
            (PostMortemAction::HandOver, Some(r), _) => format!(
                "After your death a copy of your data goes to {} <{}>{}, then it is erased.",
                r.name,
                r.email,
                if d.message.is_some() {
                    " with your message"
                } else {
                    ""
                }
            ),
            (PostMortemAction::HandOver, None, _) => "Hand-over without a recipient".to_owned(),
        };
        self.print(&human, serde_json::to_value(d).unwrap_or(Value::Null));
    }

    pub(crate) fn objections(&self, list: &[praxis_core::protocol::notice::Objection]) {
        let human = list
            .iter()
            .map(|o| {
                let mut s = format!(
                    "{:<18} {}\n  {}",
                    o.basis,
                    if o.objected {
                        "objected"
                    } else {
                        "not objected"
                    },
                    o.processing
                );
                for stop in &o.stops {
                    s.push_str(&format!("\n  an objection stops: {stop}"));
                }
                if let Some(why) = &o.continues {
                    s.push_str(&format!("\n  goes on despite an objection: {why}"));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(&human, serde_json::to_value(list).unwrap_or(Value::Null));
    }

    pub(crate) fn consents(&self, list: &[praxis_core::ConsentStatus]) {
        let human = list
            .iter()
            .map(|c| {
                let state = match (c.granted, c.needs_reconsent, c.given_version) {
                    (true, _, _) => "granted".to_owned(),
                    (false, true, _) => format!(
                        "needs your consent again (policy v{} replaced v{})",
                        c.current_version,
                        c.given_version.unwrap_or(0)
                    ),
                    (false, false, Some(_)) => "withdrawn".to_owned(),
                    (false, false, None) => "not given".to_owned(),
                };
                format!("{:<18} {state}", c.purpose.as_str())
            })
            .collect::<Vec<_>>()
            .join("\n");
        let machine: Vec<Value> = list
            .iter()
            .map(|c| {
                json!({
                    "purpose": c.purpose, "granted": c.granted, "given_version": c.given_version,
                    "current_version": c.current_version, "needs_reconsent": c.needs_reconsent,
                    "updated_at": c.updated_at,
                })
            })
            .collect();
        self.print(&human, Value::Array(machine));
    }

    pub(crate) fn consent_history(&self, list: &[consents::Entry]) {
        let human = list
            .iter()
            .map(|e| {
                format!(
                    "{}  {:<18} {} (policy v{})",
                    e.at,
                    e.purpose.as_str(),
                    if e.granted { "granted" } else { "withdrawn" },
                    e.policy_version
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No consent recorded yet."
            } else {
                &human
            },
            serde_json::to_value(list).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn permissions(&self, list: &[praxis_core::LocationPermission]) {
        let human = list
            .iter()
            .map(|p| {
                let state = match p.closed {
                    None => format!("allowed ({})", p.precision.as_str()),
                    Some(Closed::PolicyDisabled) => {
                        "off: your organisation does not allow it".into()
                    }
                    Some(Closed::ConsentRequired) => format!(
                        "off: run `praxis consent grant {}` to allow it",
                        p.purpose.as_str()
                    ),
                    Some(Closed::Restricted) => "off: your account is restricted".into(),
                };
                format!("{:<18} {state}", p.purpose.as_str())
            })
            .collect::<Vec<_>>()
            .join("\n");
        let machine: Vec<Value> = list
            .iter()
            .map(|p| {
                json!({
                    "purpose": p.purpose, "closed": p.closed, "precision": p.precision,
                    "organisation_allows": p.organisation_allows, "consented": p.consented,
                    "restricted": p.restricted, "max_precision": p.max_precision,
                    "retention_days": p.retention_days,
                })
            })
            .collect();
        self.print(&human, Value::Array(machine));
    }

    pub(crate) fn visit_event(&self, e: &praxis_core::VisitEvent) {
        let where_ = match (e.inside, e.distance_m) {
            (Some(true), _) => "inside the visit's area".to_owned(),
            (Some(false), Some(d)) => format!("{d:.0} m outside the visit's area"),
            _ => "no area set for this visit".to_owned(),
        };
        self.print(
            &format!(
                "{} recorded at {}: {where_}; it syncs with `praxis sync`.",
                match e.kind {
                    praxis_core::VisitKind::CheckIn => "Check-in",
                    praxis_core::VisitKind::CheckOut => "Check-out",
                },
                e.at
            ),
            json!({
                "id": e.id, "appointment_id": e.appointment_id, "at": e.at,
                "inside": e.inside, "distance_m": e.distance_m, "precision": e.precision,
            }),
        );
    }

    pub(crate) fn shared_with_me(&self, list: &[SharedLocation]) {
        let human = list
            .iter()
            .map(|s| {
                let pos = s.position.as_ref().map_or_else(
                    || "no position yet".to_owned(),
                    |p| {
                        format!(
                            "{:.5}, {:.5} (±{:.0} m at {})",
                            p.lat, p.lon, p.accuracy_m, p.at
                        )
                    },
                );
                format!("{} until {}: {pos}", s.full_name, s.expires_at)
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No one shares a location with you now."
            } else {
                &human
            },
            serde_json::to_value(list).unwrap_or(Value::Null),
        );
    }

    pub(crate) fn audit(&self, list: &[AuditEntry]) {
        let human = list
            .iter()
            .map(|e| format!("{}  {}  {}", e.at, e.event, e.details))
            .collect::<Vec<_>>()
            .join("\n");
        self.print(&human, serde_json::to_value(list).unwrap_or(Value::Null));
    }
}
