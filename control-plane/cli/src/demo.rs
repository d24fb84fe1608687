//! What `glitch up` and `glitch fleet` both set up: the admin token (from `GLITCH_ADMIN_TOKEN`
//! or a random one) and a demo project on the `balanced` template with a fresh key.

use http::Method;
use serde_json::json;

use crate::api::{Api, ApiError};

/// `GLITCH_ADMIN_TOKEN` when set (at least 16 characters), else a random 40-character token;
/// the flag says whether it came from the environment.
pub fn admin_token() -> (String, bool) {
    match std::env::var("GLITCH_ADMIN_TOKEN")
        .ok()
        .filter(|t| t.len() >= 16)
    {
        Some(token) => (token, true),
        None => (random_token(), false),
    }
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..40)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The project named `name` (reused when it exists, else created on the `balanced` template)
/// and a fresh key for it named `key_name`: (project id, the key's secret, shown this once).
pub async fn project_and_key(
    api: &Api,
    name: &str,
    key_name: &str,
) -> Result<(String, String), ApiError> {
    let projects = api.call(Method::GET, "/v1/projects", None).await?;
    let existing = projects["results"]
        .as_array()
        .or_else(|| projects.as_array())
        .and_then(|list| list.iter().find(|p| p["name"] == name))
        .and_then(|p| p["id"].as_str().map(str::to_owned));
    let project_id = match existing {
        Some(id) => id,
        None => {
            let created = api
                .call(
                    Method::POST,
                    "/v1/projects",
                    Some(&json!({"name": name, "policy_id": "balanced"})),
                )
                .await?;
            created["id"].as_str().unwrap_or_default().to_owned()
        }
    };
    let key = api
        .call(
            Method::POST,
            &format!("/v1/projects/{project_id}/keys"),
            Some(&json!({"name": key_name})),
        )
        .await?;
    let secret = key["key"].as_str().unwrap_or_default().to_owned();
    Ok((project_id, secret))
}
