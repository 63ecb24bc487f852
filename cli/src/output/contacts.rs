//! Printing contact cards, the cards shared with the user and who holds
//! the user's card.

use praxis_core::protocol::contacts::{ContactCard, Holder};
use serde_json::{Value, json};

use super::Out;

impl Out {
    pub(crate) fn card(&self, c: &ContactCard) {
        let line =
            |k: &str, v: Option<&str>| v.map(|v| format!("\n{k:<15}{v}")).unwrap_or_default();
        let langs = c.languages.join(", ");
        let human = format!(
            "Name:          {}{}{}{}{}{}{}{}",
            c.display_name,
            line("Profession:", c.profession.as_deref()),
            line("Specialty:", c.specialty.as_deref()),
            line("Work phone:", c.work_phone.as_deref()),
            line("Work email:", c.work_email.as_deref()),
            line("Organisation:", c.organisation.as_deref()),
            line("Address:", c.clinic_address.as_deref()),
            line("Languages:", (!langs.is_empty()).then_some(langs.as_str())),
        );
        self.print(&human, serde_json::to_value(c).unwrap_or(Value::Null));
    }

    pub(crate) fn contacts(&self, list: &[praxis_core::Contact]) {
        let human = list
            .iter()
            .map(|c| {
                let detail = [
                    c.card.profession.as_deref(),
                    c.card.organisation.as_deref(),
                    c.card.work_phone.as_deref(),
                    c.card.work_email.as_deref(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
                format!("{} ({})  {detail}", c.card.display_name, c.owner_id)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let machine: Vec<Value> = list
            .iter()
            .map(|c| {
                json!({
                    "owner_id": c.owner_id, "card": c.card, "shared_fields": c.shared_fields,
                    "allow_forward": c.allow_forward, "forwarded_by": c.forwarded_by,
                })
            })
            .collect();
        self.print(
            if human.is_empty() {
                "No cards shared with you yet."
            } else {
                &human
            },
            Value::Array(machine),
        );
    }

    pub(crate) fn holders(&self, list: &[Holder]) {
        let human = list
            .iter()
            .map(|h| {
                format!(
                    "{} sees {}{}",
                    h.holder_id,
                    h.fields.join(", "),
                    h.forwarded_by
                        .map(|f| format!(" (forwarded by {f})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(
            if human.is_empty() {
                "No one holds your card."
            } else {
                &human
            },
            serde_json::to_value(list).unwrap_or(Value::Null),
        );
    }
}
