//! Rectification: every editable field of the profile reaches the user's
//! other device, and every field of the contact card reaches its holder,
//! at their next sync.

use std::sync::Arc;

use praxis_core::PraxisClient;
use praxis_core::protocol::contacts::{ContactCard, FIELDS};
use praxis_core::protocol::{Profile, UpdateProfileRequest};
use praxis_tests::{Backend, TestServer, Transport, person};
use serde_json::Value;

async fn device(s: &TestServer, body: &Value, key: u8) -> (Arc<PraxisClient>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let client = PraxisClient::open(praxis_tests::client_config(
        s.base_url().expect("url"),
        dir.path(),
        key,
    ))
    .await
    .expect("open");
    praxis_tests::sign_in(&client, body).await;
    (client, dir)
}

/// A profile field's name, a change of it, and how to read it back.
type Edit = (&'static str, UpdateProfileRequest, fn(&Profile) -> String);

/// One change per editable profile field.
fn profile_edits() -> Vec<Edit> {
    vec![
        (
            "email",
            UpdateProfileRequest {
                email: Some("rectified.address@clinic-example.org".into()),
                ..Default::default()
            },
            |p| p.email.clone(),
        ),
        (
            "full_name",
            UpdateProfileRequest {
                full_name: Some("Rectified Name".into()),
                ..Default::default()
            },
            |p| p.full_name.clone(),
        ),
        (
            "phone",
            UpdateProfileRequest {
                phone: Some("+33698765432".into()),
                ..Default::default()
            },
            |p| p.phone.clone(),
        ),
        (
            "country",
            UpdateProfileRequest {
                country: Some("BE".into()),
                ..Default::default()
            },
            |p| p.country.clone(),
        ),
        (
            "language",
            UpdateProfileRequest {
                language: Some("nl-BE".into()),
                ..Default::default()
            },
            |p| p.language.clone(),
        ),
        (
            "profession",
            UpdateProfileRequest {
                profession: Some("midwife".into()),
                ..Default::default()
            },
            |p| p.profession.clone(),
        ),
        (
            "date_of_birth",
            UpdateProfileRequest {
                date_of_birth: Some("1984-02-29".into()),
                ..Default::default()
            },
            |p| p.date_of_birth.to_string(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_editable_field_reaches_every_device_and_holder() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let me = person("rectify");
    s.register(&me).await;
    let (phone, _d1) = device(&s, &me, 1).await;
    let (tablet, _d2) = device(&s, &me, 2).await;
    let holder_body = person("holder");
    s.register(&holder_body).await;
    let (holder, _d3) = device(&s, &holder_body, 3).await;

    // Profile: each field, one at a time, reaches the tablet.
    let edits = profile_edits();
    let editable: Vec<&str> = edits.iter().map(|(f, _, _)| *f).collect();
    let request_fields: Vec<String> = serde_json::to_value(UpdateProfileRequest {
        email: Some(String::new()),
        full_name: Some(String::new()),
        phone: Some(String::new()),
        country: Some(String::new()),
        language: Some(String::new()),
        profession: Some(String::new()),
        date_of_birth: Some(String::new()),
    })
    .expect("json")
    .as_object()
    .expect("object")
    .keys()
    .cloned()
    .collect();
    for f in &request_fields {
        assert!(
            editable.contains(&f.as_str()),
            "{f} has no rectification test"
        );
    }
    let password = me["password"].as_str().expect("password");
    for (field, edit, read) in edits {
        let updated = if let Some(email) = &edit.email {
            // The login email is a credential: without the password
            // re-entered, the change is refused.
            let refused = phone.account().update_profile(&edit).await;
            assert!(
                matches!(&refused, Err(praxis_core::Error::Api { code, .. }) if *code == praxis_core::protocol::ErrorCode::ReauthRequired),
                "{refused:?}"
            );
            phone
                .account()
                .reauthenticate(password)
                .await
                .expect("reauth");
            let updated = phone.account().update_profile(&edit).await.expect(field);
            // It signs the other devices out: the tablet learns it at its
            // next contact and signs in with the new address.
            let _ = tablet.sync().sync_now("test").await;
            assert!(
                tablet.account().user_id().is_none(),
                "tablet still signed in"
            );
            tablet
                .account()
                .login(email, password)
                .await
                .expect("sign in with the new email");
            updated
        } else {
            phone.account().update_profile(&edit).await.expect(field)
        };
        tablet.sync().sync_now("test").await.expect("sync");
        let seen = tablet
            .account()
            .cached_profile()
            .await
            .expect("read")
            .expect("profile");
        assert_eq!(read(&seen), read(&updated), "{field} on the other device");
    }

    // The card: shared whole with the holder, then each field changed.
    let mut card = ContactCard {
        display_name: "Dr Before".into(),
        profession: Some("nurse".into()),
        specialty: Some("before".into()),
        work_phone: Some("+33320000001".into()),
        work_email: Some("before@clinic-example.org".into()),
        organisation: Some("Before".into()),
        clinic_address: Some("1 rue Avant".into()),
        languages: vec!["fr".into()],
    };
    phone.contacts().update_card(&card).await.expect("card");
    let code = phone
        .contacts()
        .invite(
            FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            false,
            None,
        )
        .await
        .expect("invite")
        .code;
    holder
        .contacts()
        .accept(&code, vec!["display_name".into()], false)
        .await
        .expect("accept");
    let owner = phone.account().user_id().expect("id");
    for field in FIELDS {
        match *field {
            "display_name" => card.display_name = "Dr After".into(),
            "profession" => card.profession = Some("midwife".into()),
            "specialty" => card.specialty = Some("after".into()),
            "work_phone" => card.work_phone = Some("+33320000002".into()),
            "work_email" => card.work_email = Some("after@clinic-example.org".into()),
            "organisation" => card.organisation = Some("After".into()),
            "clinic_address" => card.clinic_address = Some("2 rue Après".into()),
            "languages" => card.languages = vec!["fr".into(), "en".into()],
            other => panic!("{other} has no rectification test"),
        }
        phone.contacts().update_card(&card).await.expect(field);
        holder.sync().sync_now("test").await.expect("sync");
        let seen = holder
            .contacts()
            .get(owner)
            .await
            .expect("get")
            .expect("card");
        assert_eq!(
            serde_json::to_value(&seen.card).expect("json")[field],
            serde_json::to_value(&card).expect("json")[field],
            "{field} at the holder"
        );
    }
}
