//! People on a test server: made-up registrations, and accounts,
//! organisations and memberships created through the API.

use super::*;

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Account id.
    pub id: String,
    /// Email as submitted.
    pub email: String,
    /// Password.
    pub password: String,
    /// Latest access token.
    pub access: String,
    /// Latest refresh token.
    pub refresh: String,
    /// The registration body.
    pub profile: Value,
}

/// A valid registration body with unique email and name.
pub fn person(tag: &str) -> Value {
    let n = uuid::Uuid::new_v4().simple().to_string();
    json!({
        "email": format!("{tag}.{}@clinic-example.org", &n[..12]),
        "password": format!("violet-tram-oboe-{}", &n[..8]),
        "full_name": format!("Nurse {tag} {}", &n[..6]),
        "phone": "+33612345678",
        "country": "FR",
        "language": "fr-FR",
        "profession": "nurse",
        "date_of_birth": "1985-04-12",
    })
}

impl TestServer {
    /// Registers `body`, asserting success; returns the user id.
    pub async fn register(&self, body: &Value) -> String {
        let r = self.send("POST", "/v1/accounts", None, Some(body)).await;
        assert_eq!(
            r.status,
            201,
            "register: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["user_id"].as_str().expect("user_id").to_owned()
    }

    /// Logs in, asserting success; returns (access, refresh).
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let r = self
            .send(
                "POST",
                "/v1/sessions",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, 200, "login: {}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        (
            j["access_token"].as_str().expect("access").to_owned(),
            j["refresh_token"].as_str().expect("refresh").to_owned(),
        )
    }

    /// Creates an organisation whose admin is the token's user; its id.
    pub async fn create_org(&self, token: &str, name: &str) -> String {
        let r = self
            .send(
                "POST",
                "/v1/orgs",
                Some(token),
                Some(&json!({ "name": name })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["org_id"].as_str().expect("org_id").to_owned()
    }

    /// A single-use join code for `org` (an admin's token).
    pub async fn join_code(&self, token: &str, org: &str) -> String {
        let r = self
            .send(
                "POST",
                &format!("/v1/orgs/{org}/join-codes"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["code"].as_str().expect("code").to_owned()
    }

    /// `PATCH /v1/orgs/{org}/location-policy` with `body`, as `token`.
    pub async fn patch_location_policy(&self, token: &str, org: &str, body: &Value) -> Resp {
        self.send(
            "PATCH",
            &format!("/v1/orgs/{org}/location-policy"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// The member joins `org` with a fresh code from its admin.
    pub async fn add_member(&self, admin_token: &str, member_token: &str, org: &str) {
        let code = self.join_code(admin_token, org).await;
        let r = self
            .send(
                "POST",
                "/v1/orgs/join",
                Some(member_token),
                Some(&json!({ "code": code })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    /// Registers and logs in a fresh user.
    pub async fn user(&self, tag: &str) -> TestUser {
        let profile = person(tag);
        let email = profile["email"].as_str().expect("email").to_owned();
        let password = profile["password"].as_str().expect("password").to_owned();
        let id = self.register(&profile).await;
        let (access, refresh) = self.login(&email, &password).await;
        TestUser {
            id,
            email,
            password,
            access,
            refresh,
            profile,
        }
    }
}
